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
            canary: route.canary.map(|c| Target::new(c.upstream, stats)),
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

pub struct App {
    pub name: String,
    live: ArcSwap<Live>,
    /// `Some(max_hold)` while paused: new requests wait up to that long.
    paused: watch::Sender<Option<Duration>>,
    /// Places new visitors of a canary split, spread evenly over 0..100.
    visitors: AtomicU64,
}

impl App {
    pub fn new(name: String, live: Live) -> Self {
        Self {
            name,
            live: ArcSwap::from_pointee(live),
            paused: watch::Sender::new(None),
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
        self.paused.send_replace(Some(max_hold));
    }

    pub fn resume(&self) {
        self.paused.send_replace(None);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.borrow().is_some()
    }

    /// Holds a request while the app is paused. False when the hold ran out
    /// before a resume.
    pub async fn wait_while_paused(&self) -> bool {
        if !self.is_paused() {
            return true;
        }
        let mut paused = self.paused.subscribe();
        let Some(max_hold) = *paused.borrow_and_update() else {
            return true;
        };
        tokio::time::timeout(max_hold, paused.wait_for(Option::is_none))
            .await
            .is_ok_and(|resumed| resumed.is_ok())
    }
}
