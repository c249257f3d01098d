//! The router's apps: their live state, their listeners, and the route file
//! that survives restarts. Every change is validated and saved before it
//! takes effect, so what is on disk is never behind what serves traffic.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
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

struct Served {
    app: Arc<App>,
    /// One accept loop per worker.
    listeners: Vec<JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

pub struct RouterState {
    apps: Mutex<HashMap<String, Served>>,
    file: RouteFile,
    workers: Workers,
    pub stats: Arc<StatsRegistry>,
}

impl RouterState {
    pub fn new(file: RouteFile, workers: Workers, stats: Arc<StatsRegistry>) -> Self {
        Self {
            apps: Mutex::new(HashMap::new()),
            file,
            workers,
            stats,
        }
    }

    /// Serves the saved routes. An app whose address cannot be bound is
    /// reported and skipped; the others serve.
    pub async fn restore(&self) -> Result<Vec<RouteError>, RouteError> {
        let saved = self.file.load()?;
        let mut apps = self.apps.lock().await;
        let mut problems = Vec::new();
        for (name, route) in saved {
            match self.start(&name, route).await {
                Ok(served) => {
                    apps.insert(name, served);
                }
                Err(e) => problems.push(e),
            }
        }
        Ok(problems)
    }

    pub async fn routes(&self) -> BTreeMap<String, Route> {
        let apps = self.apps.lock().await;
        apps.iter()
            .map(|(name, served)| (name.clone(), served.app.route()))
            .collect()
    }

    pub async fn paused(&self, name: &str) -> Option<bool> {
        let apps = self.apps.lock().await;
        apps.get(name).map(|served| served.app.is_paused())
    }

    /// Sets an app's route. With the same listen address the switch is one
    /// atomic swap: requests already sent finish where they went, every later
    /// one goes to the new upstream, and none is refused.
    pub async fn set_route(&self, name: &str, route: Route) -> Result<(), RouteError> {
        check_name(name)?;
        if let Some(problem) = route.problem() {
            return Err(RouteError::Invalid(problem));
        }
        let mut apps = self.apps.lock().await;
        if let Some((other, _)) = apps
            .iter()
            .find(|(other, s)| other.as_str() != name && s.app.live().route.listen == route.listen)
        {
            return Err(RouteError::Invalid(format!(
                "{} is already the address of {other}",
                route.listen
            )));
        }
        let mut table = current_table(&apps);
        table.insert(name.to_string(), route.clone());
        match apps.get(name) {
            Some(served) if served.app.live().route.listen == route.listen => {
                self.file.save(&table)?;
                served.app.set_route(Live::new(route, &self.stats));
            }
            _ => {
                // A new address: bind it before anything is saved or swapped,
                // so a refused bind changes nothing.
                let served = self.start(name, route.clone()).await?;
                self.file.save(&table)?;
                if let Some(old) = apps.insert(name.to_string(), served) {
                    // Connections still open on the old address follow too.
                    old.app.set_route(Live::new(route, &self.stats));
                }
            }
        }
        Ok(())
    }

    pub async fn remove_route(&self, name: &str) -> Result<(), RouteError> {
        let mut apps = self.apps.lock().await;
        if !apps.contains_key(name) {
            return Err(RouteError::UnknownApp(name.to_string()));
        }
        let mut table = current_table(&apps);
        table.remove(name);
        self.file.save(&table)?;
        apps.remove(name);
        Ok(())
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
            .get(name)
            .ok_or_else(|| RouteError::UnknownApp(name.to_string()))?;
        action(&served.app);
        Ok(())
    }

    async fn start(&self, name: &str, route: Route) -> Result<Served, RouteError> {
        let addr = route.listen;
        let app = Arc::new(App::new(name.to_string(), Live::new(route, &self.stats)));
        let listeners = self
            .workers
            .serve(&app, addr)
            .map_err(|source| RouteError::Listen {
                app: name.to_string(),
                addr,
                source,
            })?;
        Ok(Served { app, listeners })
    }
}

fn current_table(apps: &HashMap<String, Served>) -> BTreeMap<String, Route> {
    apps.iter()
        .map(|(name, served)| (name.clone(), served.app.route()))
        .collect()
}

fn check_name(name: &str) -> Result<(), RouteError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(RouteError::Invalid(format!(
            "app name {name:?}: use 1 to 64 of a-z, 0-9, - and _"
        )))
    }
}
