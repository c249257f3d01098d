//! One app's live state in the router: its route (swapped atomically) and
//! whether it is paused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::route::Route;

pub struct App {
    pub name: String,
    route: ArcSwap<Route>,
    /// `Some(max_hold)` while paused: new requests wait up to that long.
    paused: watch::Sender<Option<Duration>>,
    /// Places new visitors of a canary split, spread evenly over 0..100.
    visitors: AtomicU64,
}

impl App {
    pub fn new(name: String, route: Route) -> Self {
        Self {
            name,
            route: ArcSwap::from_pointee(route),
            paused: watch::Sender::new(None),
            visitors: AtomicU64::new(0),
        }
    }

    pub fn route(&self) -> arc_swap::Guard<std::sync::Arc<Route>> {
        self.route.load()
    }

    /// Every request that reads the route after this sees the new one.
    pub fn set_route(&self, route: Route) {
        self.route.store(std::sync::Arc::new(route));
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
        let mut paused = self.paused.subscribe();
        let Some(max_hold) = *paused.borrow_and_update() else {
            return true;
        };
        tokio::time::timeout(max_hold, paused.wait_for(Option::is_none))
            .await
            .is_ok_and(|resumed| resumed.is_ok())
    }
}
