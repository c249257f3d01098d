//! The built-in synthetic load: the same requests, at the same rate, sent
//! straight to green and to blue at once over one window, so a comparison
//! has a baseline in the same window before (or without) any user. Each
//! request carries `x-deployflow-load: 1`, so the app and its own metrics
//! can tell it from real traffic; it never goes through the router, whose
//! counters stay the users'. The rate is `governor`'s, not a hand-made
//! scheduler's.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};
use serde_json::Value;

use super::{comparison, number};
use crate::config::Measure;
use crate::flow::measurement::Reading;

/// Requests in flight at most, per side: a release that stops answering
/// must not make the load pile up.
const MAX_IN_FLIGHT: usize = 256;

/// What one side answered over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Side {
    pub requests: u64,
    /// Transport errors and 5xx answers.
    pub errors: u64,
    /// Time to the answer's headers of each request that got one, in ms,
    /// sorted.
    pub latencies_ms: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub rps: u32,
    pub method: reqwest::Method,
    pub path: String,
    /// At most this much of each window is loaded.
    pub duration: Option<Duration>,
}

/// Drives `spec` at `green` and `blue` (when there is one) for `window`.
pub async fn drive(
    spec: &LoadSpec,
    green: &str,
    blue: Option<&str>,
    window: Duration,
) -> (Side, Option<Side>) {
    let length = spec.duration.map_or(window, |d| d.min(window));
    let timeout = Duration::from_secs(10).min(window.max(Duration::from_secs(1)));
    let client = match super::client() {
        Ok(client) => client,
        Err(_) => return (Side::default(), blue.map(|_| Side::default())),
    };
    let rate = NonZeroU32::new(spec.rps.max(1)).unwrap_or(NonZeroU32::MIN);
    let limiter = RateLimiter::direct(Quota::per_second(rate));
    let green_side = Arc::new(Mutex::new(Side::default()));
    let blue_side = Arc::new(Mutex::new(Side::default()));
    let mut flying = tokio::task::JoinSet::new();
    let deadline = Instant::now() + length;
    while Instant::now() < deadline {
        tokio::select! {
            _ = limiter.until_ready() => {}
            _ = tokio::time::sleep_until(deadline.into()) => break,
        }
        let targets = std::iter::once((green, &green_side)).chain(blue.map(|b| (b, &blue_side)));
        for (endpoint, side) in targets {
            if flying.len() >= 2 * MAX_IN_FLIGHT {
                // Counted as an error: the side did not keep up.
                lock(side).requests += 1;
                lock(side).errors += 1;
                continue;
            }
            let request = client
                .request(
                    spec.method.clone(),
                    format!("http://{endpoint}{}", spec.path),
                )
                .header("x-deployflow-load", "1")
                .timeout(timeout);
            let side = side.clone();
            flying.spawn(async move {
                let started = Instant::now();
                let answer = request.send().await;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let mut side = lock(&side);
                side.requests += 1;
                match answer {
                    Ok(response) if response.status().as_u16() < 500 => side.latencies_ms.push(ms),
                    Ok(_) => {
                        side.errors += 1;
                        side.latencies_ms.push(ms);
                    }
                    Err(_) => side.errors += 1,
                }
            });
        }
        while flying.try_join_next().is_some() {}
    }
    while flying.join_next().await.is_some() {}
    let finish = |side: Arc<Mutex<Side>>| {
        let mut side = lock(&side).clone();
        side.latencies_ms.sort_by(f64::total_cmp);
        side
    };
    (finish(green_side), blue.map(|_| finish(blue_side)))
}

fn lock(side: &Mutex<Side>) -> std::sync::MutexGuard<'_, Side> {
    // A task that panicked mid-count leaves numbers, not a broken state.
    side.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `measure` over what the load saw: green's own measures, or green
/// against blue (`compare_*`, where `requests` is the fewer side's).
pub fn measured(measure: Measure, green: &Side, blue: Option<&Side>) -> Reading {
    use crate::flow::compare::{quantile, slower_p_value};
    let rate = |side: &Side, n: u64| {
        if side.requests == 0 {
            Ok(Value::Null)
        } else {
            number(n as f64 / side.requests as f64)
        }
    };
    let own = |value| Reading {
        value,
        baseline: None,
        requests: Some(green.requests),
    };
    let latency = |side: &Side, q: f64| quantile(&side.latencies_ms, q);
    let ms = |v: Option<f64>| v.map_or(Ok(Value::Null), number);
    match measure {
        Measure::SuccessRate => own(rate(
            green,
            green.requests - green.errors.min(green.requests),
        )),
        Measure::ErrorRate => own(rate(green, green.errors)),
        Measure::LatencyP50 => own(ms(latency(green, 0.50))),
        Measure::LatencyP90 => own(ms(latency(green, 0.90))),
        Measure::LatencyP99 => own(ms(latency(green, 0.99))),
        Measure::Requests => own(number(green.requests as f64)),
        Measure::CompareErrors | Measure::CompareLatency => {
            let Some(blue) = blue else {
                return Reading {
                    value: Err("no blue to compare with: this is the app's first deploy".into()),
                    baseline: None,
                    requests: None,
                };
            };
            let summary = |side: &Side| comparison::Summary {
                requests: side.requests,
                errors: side.errors,
                p50: latency(side, 0.50),
                p99: latency(side, 0.99),
            };
            let (g, b) = (summary(green), summary(blue));
            if measure == Measure::CompareErrors {
                comparison::errors(&g, &b)
            } else {
                let p = slower_p_value(&green.latencies_ms, &blue.latencies_ms);
                comparison::latency(p, &g, &b)
            }
        }
    }
}
