//! One app's live state in the router: its route (swapped atomically) and
//! whether it is paused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::http::uri::Authority;
use tokio::sync::watch;

use super::route::Route;
use super::stats::{StatsRegistry, UpstreamStats};

/// An upstream as the request path needs it, resolved once per route change
/// rather than once per request.
pub struct Target {
    pub addr: SocketAddr,
    pub authority: Authority,
    pub stats: Arc<UpstreamStats>,
}

impl Target {
    fn new(addr: SocketAddr, stats: &StatsRegistry) -> Self {
        Self {
            addr,
            // A socket address is always a valid authority.
            authority: Authority::try_from(addr.to_string().as_str())
                .unwrap_or_else(|_| Authority::from_static("127.0.0.1")),
            stats: stats.get(addr),
        }
    }
}

/// A route with its targets resolved.
pub struct Live {
    pub route: Route,
    pub upstream: Target,
    pub canary: Option<Target>,
}

impl Live {
    pub fn new(route: Route, stats: &StatsRegistry) -> Self {
        Self {
            upstream: Target::new(route.upstream, stats),
            canary: route
                .canary
                .as_ref()
                .map(|c| Target::new(c.upstream, stats)),
            route,
        }
    }

    pub fn target(&self, addr: SocketAddr) -> &Target {
        match &self.canary {
            Some(canary) if canary.addr == addr => canary,
            _ => &self.upstream,
        }
    }
}

/// Whether an app is paused, and how many times it was resumed: a held
/// request waits for the next resume, so a resume followed at once by a new
/// pause still lets it through (a watch keeps only the latest value).
#[derive(Debug, Clone, Copy, Default)]
struct Pause {
    /// `Some(max_hold)` while paused: new requests wait up to that long.
    hold: Option<Duration>,
    resumes: u64,
}

pub struct App {
    pub name: String,
    live: ArcSwap<Live>,
    paused: watch::Sender<Pause>,
    /// Places new visitors of a canary split, spread evenly over 0..100.
    visitors: AtomicU64,
}

impl App {
    pub fn new(name: String, live: Live) -> Self {
        Self {
            name,
            live: ArcSwap::from_pointee(live),
            paused: watch::Sender::new(Pause::default()),
            visitors: AtomicU64::new(0),
        }
    }

    pub fn live(&self) -> arc_swap::Guard<Arc<Live>> {
        self.live.load()
    }

    pub fn route(&self) -> Route {
        self.live.load().route.clone()
    }

    /// Every request that reads the route after this sees the new one.
    pub fn set_route(&self, live: Live) {
        self.live.store(Arc::new(live));
    }

    pub fn next_roll(&self) -> u8 {
        (self.visitors.fetch_add(1, Ordering::Relaxed) % 100) as u8
    }

    pub fn pause(&self, max_hold: Duration) {
        self.paused.send_modify(|pause| pause.hold = Some(max_hold));
    }

    pub fn resume(&self) {
        self.paused.send_modify(|pause| {
            pause.hold = None;
            pause.resumes += 1;
        });
    }

    pub fn is_paused(&self) -> bool {
        self.paused.borrow().hold.is_some()
    }

    /// Holds a request while the app is paused. False when the hold ran out
    /// before a resume.
    pub async fn wait_while_paused(&self) -> bool {
        if !self.is_paused() {
            return true;
        }
        let mut paused = self.paused.subscribe();
        let seen = *paused.borrow_and_update();
        let Some(max_hold) = seen.hold else {
            return true;
        };
        let resumed = paused.wait_for(|now| now.hold.is_none() || now.resumes != seen.resumes);
        tokio::time::timeout(max_hold, resumed)
            .await
            .is_ok_and(|resumed| resumed.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::stats::StatsRegistry;

    fn app() -> Arc<App> {
        let route = Route {
            listen: "127.0.0.1:8080".parse().unwrap(),
            upstream: "127.0.0.1:9001".parse().unwrap(),
            canary: None,
        };
        Arc::new(App::new(
            "hello".into(),
            Live::new(route, &StatsRegistry::default()),
        ))
    }

    #[tokio::test]
    async fn a_held_request_goes_on_at_a_resume_even_if_a_pause_follows_at_once() {
        let app = app();
        app.pause(Duration::from_secs(30));
        let held = tokio::spawn({
            let app = app.clone();
            async move { app.wait_while_paused().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        app.resume();
        app.pause(Duration::from_secs(30));
        let released = tokio::time::timeout(Duration::from_secs(5), held).await;
        assert!(matches!(released, Ok(Ok(true))), "the request stayed held");
    }

    #[tokio::test]
    async fn a_hold_that_runs_out_says_so() {
        let app = app();
        app.pause(Duration::from_millis(20));
        assert!(!app.wait_while_paused().await);
        app.resume();
        assert!(app.wait_while_paused().await);
    }
}
