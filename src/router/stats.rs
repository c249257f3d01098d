//! Per-upstream counters: in flight (for drains), requests, 5xx, failures and
//! a latency histogram (`latency.rs`) that analyses read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use super::latency::{self, Histogram};

#[derive(Default)]
pub struct UpstreamStats {
    in_flight: AtomicU64,
    requests: AtomicU64,
    responses_5xx: AtomicU64,
    /// Requests the router answered itself because the upstream refused,
    /// failed or timed out.
    failures: AtomicU64,
    /// Requests in a row the upstream did not answer; 0 after an answer.
    consecutive_failures: AtomicU64,
    /// Connects tried again because one failed before the request was
    /// written (refused, reset, a dropped SYN).
    retries: AtomicU64,
    latency: Histogram,
    latency_sum_us: AtomicU64,
    idle: Notify,
    /// Sweeps in a row that found no route naming this upstream.
    unused_sweeps: AtomicU64,
}

/// Counts a request in flight until it is dropped, which the proxy does
/// when the response body has been sent (or the client went away).
pub struct InFlight {
    stats: Arc<UpstreamStats>,
}

impl InFlight {
    pub fn stats(&self) -> &Arc<UpstreamStats> {
        &self.stats
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.stats.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stats.idle.notify_waiters();
        }
    }
}

impl UpstreamStats {
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            stats: self.clone(),
        }
    }

    /// Records the response's status and the time to its headers.
    pub fn answered(&self, status: u16, latency: Duration) {
        if status >= 500 {
            self.responses_5xx.fetch_add(1, Ordering::Relaxed);
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.latency.record(latency);
        self.latency_sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records a connect tried again before the request was written.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request the upstream never answered (the router sent 502/504).
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.responses_5xx.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until nothing is in flight or `timeout` passes; returns what is
    /// still in flight.
    pub async fn drain(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            // Register for the wake-up before looking, so a request ending in
            // between is not missed.
            let idle = self.idle.notified();
            let in_flight = self.in_flight();
            if in_flight == 0 {
                return 0;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, idle).await.is_err() {
                return self.in_flight();
            }
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let buckets = self.latency.counts();
        let bounds = latency::bounds_ms();
        let answered: u64 = buckets.iter().sum();
        let quantile = |q| latency::quantile(&bounds, &buckets, q).unwrap_or(0.0);
        StatsSnapshot {
            in_flight: self.in_flight(),
            requests: self.requests.load(Ordering::Relaxed),
            responses_5xx: self.responses_5xx.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            healthy: self.consecutive_failures.load(Ordering::Relaxed) < 3,
            latency_ms: LatencySnapshot {
                p50: quantile(0.50),
                p90: quantile(0.90),
                p99: quantile(0.99),
                mean: if answered == 0 {
                    0.0
                } else {
                    self.latency_sum_us.load(Ordering::Relaxed) as f64 / answered as f64 / 1000.0
                },
                bounds,
                counts: buckets,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub in_flight: u64,
    pub requests: u64,
    pub responses_5xx: u64,
    pub failures: u64,
    /// Connects tried again before a request was written.
    pub retries: u64,
    /// False after three requests in a row the upstream did not answer.
    pub healthy: bool,
    pub latency_ms: LatencySnapshot,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencySnapshot {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    /// Bucket upper bounds (`latency::bounds_ms`, log-linear); `counts` has
    /// one more entry, for +Inf.
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Every upstream's stats, created on first use and kept while a route names
/// the upstream, and for one more route change after (see `sweep`).
#[derive(Default)]
pub struct StatsRegistry {
    upstreams: RwLock<HashMap<SocketAddr, Arc<UpstreamStats>>>,
}

impl StatsRegistry {
    pub fn get(&self, upstream: SocketAddr) -> Arc<UpstreamStats> {
        let existing = self
            .upstreams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&upstream)
            .cloned();
        if let Some(stats) = existing {
            return stats;
        }
        // A panic while holding the lock cannot leave the map half-changed
        // (inserting is one step), so a poisoned lock is still good.
        let mut map = self
            .upstreams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(upstream).or_default().clone()
    }

    /// Forgets the upstreams that no route in `in_use` names, nothing is in
    /// flight to, and that were already unused at the sweep before. Called on
    /// each route change, so a router living through thousands of
    /// deployments keeps counters for the few upstreams that matter, while
    /// the upstream just switched away from keeps its counters (for its
    /// drain and for whoever reads `/stats` after the switch) until the
    /// next change.
    pub fn sweep(&self, in_use: &std::collections::HashSet<SocketAddr>) {
        let mut map = self
            .upstreams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|addr, stats| {
            if in_use.contains(addr) {
                stats.unused_sweeps.store(0, Ordering::Relaxed);
                return true;
            }
            if stats.in_flight() > 0 {
                return true;
            }
            stats.unused_sweeps.fetch_add(1, Ordering::Relaxed) < 1
        });
    }

    /// Requests in flight to every upstream together.
    pub fn in_flight(&self) -> u64 {
        self.upstreams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|stats| stats.in_flight())
            .sum()
    }

    pub fn snapshot(&self) -> HashMap<SocketAddr, StatsSnapshot> {
        self.upstreams
            .read()
            .map(|map| map.iter().map(|(addr, s)| (*addr, s.snapshot())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_its_bucket_and_quantiles_follow() {
        let stats = UpstreamStats::default();
        for _ in 0..90 {
            stats.answered(200, Duration::from_micros(800));
        }
        for _ in 0..10 {
            stats.answered(503, Duration::from_millis(40));
        }
        let snap = stats.snapshot();
        let at = |d| snap.latency_ms.counts[latency::index(d)];
        assert_eq!(at(Duration::from_micros(800)), 90);
        assert_eq!(at(Duration::from_millis(40)), 10);
        assert_eq!(snap.latency_ms.p50, 0.81);
        assert_eq!(snap.latency_ms.p99, 41.0);
        assert_eq!(snap.responses_5xx, 10);
    }

    #[test]
    fn three_failures_in_a_row_make_an_upstream_unhealthy() {
        let stats = UpstreamStats::default();
        stats.failed();
        stats.failed();
        assert!(stats.snapshot().healthy);
        stats.failed();
        assert!(!stats.snapshot().healthy);
        stats.answered(200, Duration::from_millis(1));
        assert!(stats.snapshot().healthy);
    }

    #[test]
    fn an_upstream_no_route_names_is_forgotten_one_change_later_once_idle() {
        let registry = StatsRegistry::default();
        let (blue, green): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        registry.get(blue).answered(200, Duration::from_millis(1));
        let request = registry.get(blue).begin();
        registry.get(green);
        let only_green = std::collections::HashSet::from([green]);
        registry.sweep(&only_green);
        registry.sweep(&only_green);
        // In flight: kept whatever the sweeps say.
        assert_eq!(registry.snapshot()[&blue].in_flight, 1);
        drop(request);
        registry.sweep(&only_green);
        // Just switched away from and idle: still readable until the next change.
        assert!(registry.snapshot().contains_key(&blue));
        registry.sweep(&only_green);
        let left = registry.snapshot();
        assert!(!left.contains_key(&blue));
        assert!(left.contains_key(&green));
    }

    #[tokio::test]
    async fn drain_waits_for_the_last_request_or_the_timeout() {
        let stats = Arc::new(UpstreamStats::default());
        let request = stats.begin();
        assert_eq!(stats.drain(Duration::from_millis(20)).await, 1);
        let ending = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(request);
        });
        assert_eq!(stats.drain(Duration::from_secs(5)).await, 0);
        ending.await.unwrap();
    }
}
