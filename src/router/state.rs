//! The router's apps: their live state, their listeners, and the route file
//! that survives restarts. Every change is validated, its address bound, and
//! the table saved before it takes effect, so what is on disk is never
//! behind what serves traffic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::app::{App, Live};
use super::persist::{PersistError, RouteFile};
use super::route::Route;
use super::stats::StatsRegistry;
use super::workers::Workers;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("{0}")]
    Invalid(String),
    #[error("no app named {0}")]
    UnknownApp(String),
    #[error("cannot listen on {addr} for {app}: {source}")]
    Listen {
        app: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// An app served on one address. Dropping it closes that address: the
/// listeners stop accepting, and every open connection finishes its current
/// request and closes, so none keeps using a removed or moved route.
struct Served {
    app: Arc<App>,
    /// One accept loop per worker.
    _listeners: Vec<JoinHandle<()>>,
    closing: watch::Sender<bool>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.closing.send_replace(true);
    }
}

#[derive(Default)]
struct Apps {
    served: HashMap<String, Served>,
    /// Saved routes whose address could not be bound at start. They stay in
    /// the table (a later change must not drop them from disk) until set
    /// again or removed.
    unbound: BTreeMap<String, Route>,
}

impl Apps {
    fn table(&self) -> BTreeMap<String, Route> {
        let mut table = self.unbound.clone();
        table.extend(
            self.served
                .iter()
                .map(|(name, served)| (name.clone(), served.app.route())),
        );
        table
    }
}

pub struct RouterState {
    apps: Mutex<Apps>,
    file: RouteFile,
    workers: Workers,
    pub stats: Arc<StatsRegistry>,
    /// The admin API's address: no upstream may be it, or any client of an
    /// app could pause and reroute it through the app's public port.
    admin: SocketAddr,
}

impl RouterState {
    pub fn new(
        file: RouteFile,
        workers: Workers,
        stats: Arc<StatsRegistry>,
        admin: SocketAddr,
    ) -> Self {
        Self {
            apps: Mutex::new(Apps::default()),
            file,
            workers,
            stats,
            admin,
        }
    }

    /// Serves the saved routes. A route that is invalid or whose address
    /// cannot be bound is reported and kept, unserved; the others serve.
    pub async fn restore(&self) -> Result<Vec<RouteError>, RouteError> {
        let saved = self.file.load()?;
        let mut apps = self.apps.lock().await;
        let mut problems = Vec::new();
        for (name, route) in saved {
            let started = validate(&apps.table(), self.admin, &name, &route)
                .and_then(|()| self.bind(&name, route.listen))
                .and_then(|sockets| self.serve(&name, route.clone(), sockets, None));
            match started {
                Ok(served) => {
                    apps.served.insert(name, served);
                }
                Err(e) => {
                    problems.push(e);
                    apps.unbound.insert(name, route);
                }
            }
        }
        Ok(problems)
    }

    pub async fn routes(&self) -> BTreeMap<String, Route> {
        self.apps.lock().await.table()
    }

    /// An app's route and whether it is paused.
    pub async fn route(&self, name: &str) -> Option<(Route, bool)> {
        let apps = self.apps.lock().await;
        match apps.served.get(name) {
            Some(served) => Some((served.app.route(), served.app.is_paused())),
            None => apps.unbound.get(name).map(|route| (route.clone(), false)),
        }
    }

    /// Sets an app's route. With the same listen address the switch is one
    /// atomic swap: requests already sent finish where they went, every later
    /// one goes to the new upstream, and none is refused.
    pub async fn set_route(&self, name: &str, route: Route) -> Result<(), RouteError> {
        let mut apps = self.apps.lock().await;
        let mut table = apps.table();
        validate(&table, self.admin, name, &route)?;
        table.insert(name.to_string(), route.clone());
        let same_address = apps
            .served
            .get(name)
            .is_some_and(|served| served.app.live().route.listen == route.listen);
        if same_address {
            self.file.save(&table)?;
            if let Some(served) = apps.served.get(name) {
                served.app.set_route(Live::new(route, &self.stats));
            }
            self.sweep_stats(&table);
            return Ok(());
        }
        // A new address: bound before anything is saved, so a refused bind
        // changes nothing; served only once saved.
        let sockets = self.bind(name, route.listen)?;
        self.file.save(&table)?;
        let existing = apps.served.get(name).map(|served| served.app.clone());
        let served = self.serve(name, route, sockets, existing)?;
        apps.unbound.remove(name);
        // The old address's listeners stop with the `Served` replaced here.
        apps.served.insert(name.to_string(), served);
        self.sweep_stats(&table);
        Ok(())
    }

    pub async fn remove_route(&self, name: &str) -> Result<(), RouteError> {
        let mut apps = self.apps.lock().await;
        let mut table = apps.table();
        if table.remove(name).is_none() {
            return Err(RouteError::UnknownApp(name.to_string()));
        }
        self.file.save(&table)?;
        apps.served.remove(name);
        apps.unbound.remove(name);
        self.sweep_stats(&table);
        Ok(())
    }

    /// Closes every app's address, for a shutdown: listeners stop, open
    /// connections finish their requests and close.
    pub async fn close_all(&self) {
        self.apps.lock().await.served.clear();
    }

    pub async fn pause(&self, name: &str, max_hold: Duration) -> Result<(), RouteError> {
        self.with_app(name, |app| app.pause(max_hold)).await
    }

    pub async fn resume(&self, name: &str) -> Result<(), RouteError> {
        self.with_app(name, App::resume).await
    }

    async fn with_app(&self, name: &str, action: impl FnOnce(&App)) -> Result<(), RouteError> {
        let apps = self.apps.lock().await;
        let served = apps
            .served
            .get(name)
            .ok_or_else(|| RouteError::UnknownApp(name.to_string()))?;
        action(&served.app);
        Ok(())
    }

    fn sweep_stats(&self, table: &BTreeMap<String, Route>) {
        let in_use: HashSet<SocketAddr> = table
            .values()
            .flat_map(|route| {
                std::iter::once(route.upstream).chain(route.canary.as_ref().map(|c| c.upstream))
            })
            .collect();
        self.stats.sweep(&in_use);
    }

    fn bind(&self, name: &str, addr: SocketAddr) -> Result<Vec<socket2::Socket>, RouteError> {
        self.workers
            .bind(addr)
            .map_err(|source| RouteError::Listen {
                app: name.to_string(),
                addr,
                source,
            })
    }

    /// Serves `route` on bound sockets, with the app's existing state (its
    /// pause, its open connections) when it has one.
    fn serve(
        &self,
        name: &str,
        route: Route,
        sockets: Vec<socket2::Socket>,
        existing: Option<Arc<App>>,
    ) -> Result<Served, RouteError> {
        let addr = route.listen;
        let live = Live::new(route, &self.stats);
        let app = match existing {
            Some(app) => {
                app.set_route(live);
                app
            }
            None => Arc::new(App::new(name.to_string(), live)),
        };
        let closing = watch::Sender::new(false);
        let listeners = self
            .workers
            .serve(&app, sockets, &closing.subscribe())
            .map_err(|source| RouteError::Listen {
                app: name.to_string(),
                addr,
                source,
            })?;
        Ok(Served {
            app,
            _listeners: listeners,
            closing,
        })
    }
}

/// Checks a route for `name` against the others in `table` and the
/// router's own admin address.
fn validate(
    table: &BTreeMap<String, Route>,
    admin: SocketAddr,
    name: &str,
    route: &Route,
) -> Result<(), RouteError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(RouteError::Invalid(format!(
            "app name {name:?}: use 1 to 64 of a-z, 0-9, - and _"
        )));
    }
    if let Some(problem) = route.problem() {
        return Err(RouteError::Invalid(problem));
    }
    if route.listen.port() == 0 {
        return Err(RouteError::Invalid(
            "listen needs a port other than 0".into(),
        ));
    }
    for (other, theirs) in table {
        if other != name && overlaps(theirs.listen, route.listen) {
            return Err(RouteError::Invalid(format!(
                "{} overlaps {}, the address of {other}",
                route.listen, theirs.listen
            )));
        }
    }
    if overlaps(route.listen, admin) {
        return Err(RouteError::Invalid(format!(
            "{} is the router's admin address",
            route.listen
        )));
    }
    // Every socket the router listens on: its admin API, and each app's.
    let listens = table
        .iter()
        .filter(|(other, _)| other.as_str() != name)
        .map(|(_, r)| r.listen)
        .chain([route.listen, admin]);
    let upstreams = [
        Some(route.upstream),
        route.canary.as_ref().map(|c| c.upstream),
    ];
    for listen in listens {
        if upstreams.iter().flatten().any(|u| overlaps(*u, listen)) {
            return Err(RouteError::Invalid(format!(
                "an upstream is the router's own address {listen}: requests would loop"
            )));
        }
    }
    Ok(())
}

/// Whether two addresses would take the same connections: the same port
/// on the same address, or on any address when either is unspecified.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    // `[::ffff:127.0.0.1]` reaches what `127.0.0.1` does.
    let (ip_a, ip_b) = (a.ip().to_canonical(), b.ip().to_canonical());
    a.port() == b.port() && (ip_a == ip_b || ip_a.is_unspecified() || ip_b.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(listen: &str, upstream: &str) -> Route {
        Route {
            listen: listen.parse().unwrap(),
            upstream: upstream.parse().unwrap(),
            canary: None,
        }
    }

    #[test]
    fn overlapping_addresses_loops_and_port_zero_are_refused() {
        let admin: SocketAddr = "127.0.0.1:7071".parse().unwrap();
        let validate = |table: &BTreeMap<String, Route>, name: &str, route: &Route| {
            super::validate(table, admin, name, route)
        };
        let mut table = BTreeMap::new();
        table.insert("a".to_string(), route("127.0.0.1:8080", "127.0.0.1:9001"));
        let refused = [
            ("b", route("0.0.0.0:8080", "127.0.0.1:9002")),
            ("b", route("127.0.0.1:8081", "127.0.0.1:8080")),
            ("b", route("127.0.0.1:8081", "127.0.0.1:8081")),
            ("b", route("127.0.0.1:0", "127.0.0.1:9002")),
            ("B", route("127.0.0.1:8082", "127.0.0.1:9002")),
            // The admin API, on its address or the wildcard's.
            ("b", route("127.0.0.1:8081", "127.0.0.1:7071")),
            ("b", route("127.0.0.1:8081", "0.0.0.0:7071")),
            ("b", route("127.0.0.1:8081", "[::ffff:127.0.0.1]:7071")),
            ("b", route("0.0.0.0:7071", "127.0.0.1:9002")),
        ];
        for (name, r) in refused {
            assert!(validate(&table, name, &r).is_err(), "{name} {r:?}");
        }
        assert!(validate(&table, "b", &route("127.0.0.1:8081", "127.0.0.1:9002")).is_ok());
        assert!(validate(&table, "a", &route("127.0.0.1:8080", "127.0.0.1:9002")).is_ok());
    }
}
