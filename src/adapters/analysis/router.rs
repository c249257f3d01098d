//! `router`: real traffic to green through deployflow's router, from its
//! per-upstream counters, diffed between the start and the end of the
//! window: success and error rates, latency quantiles from the histogram's
//! buckets, and the request count `min_requests` is checked against.

use std::time::Duration;

use serde::Deserialize;

use super::number;
use crate::adapters::router_client::RouterClient;
use crate::config::{Measure, Metric};
use crate::flow::measurement::Reading;

/// One upstream's counters, as the router's `/stats` gives them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counters {
    pub requests: u64,
    pub responses_5xx: u64,
    pub latency_ms: Latency,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Latency {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

/// The start of a window: green's counters then (or why they could not
/// be read), and where to read them again.
pub struct Window {
    router: RouterClient,
    upstream: String,
    start: Result<Counters, String>,
}

const STATS_TIMEOUT: Duration = Duration::from_secs(5);

async fn counters(router: &RouterClient, upstream: &str) -> Result<Counters, String> {
    let stats = router
        .stats(STATS_TIMEOUT)
        .await
        .map_err(|e| format!("the router's counters: {e}"))?;
    match stats.get(upstream) {
        // Not counted yet: nothing has been sent to it.
        None => Ok(Counters::default()),
        Some(found) => serde_json::from_value(found.clone())
            .map_err(|e| format!("the router's counters for {upstream}: {e}")),
    }
}

pub async fn window_start(router: RouterClient, upstream: &str) -> Window {
    let start = counters(&router, upstream).await;
    Window {
        router,
        upstream: upstream.to_string(),
        start,
    }
}

pub async fn read(metric: &Metric, window: Option<&Window>) -> Reading {
    let failed = |why: String| Reading {
        value: Err(why),
        baseline: None,
        requests: None,
    };
    let Some(window) = window else {
        return failed("no router window was opened".into());
    };
    let start = match &window.start {
        Ok(start) => start,
        Err(why) => return failed(why.clone()),
    };
    let end = match counters(&window.router, &window.upstream).await {
        Ok(end) => end,
        Err(why) => return failed(why),
    };
    let measure = metric.measure.unwrap_or(Measure::Requests);
    measured(measure, start, &end)
}

/// `measure` over the window between `start` and `end`.
pub fn measured(measure: Measure, start: &Counters, end: &Counters) -> Reading {
    let requests = end.requests.saturating_sub(start.requests);
    let errors = end.responses_5xx.saturating_sub(start.responses_5xx);
    let buckets: Vec<u64> = end
        .latency_ms
        .counts
        .iter()
        .enumerate()
        .map(|(i, n)| n.saturating_sub(start.latency_ms.counts.get(i).copied().unwrap_or(0)))
        .collect();
    let rate = |n: u64| {
        if requests == 0 {
            Ok(serde_json::Value::Null)
        } else {
            number(n as f64 / requests as f64)
        }
    };
    let quantile = |q: f64| match quantile(&end.latency_ms.bounds, &buckets, q) {
        Some(ms) => number(ms),
        None => Ok(serde_json::Value::Null),
    };
    let value = match measure {
        Measure::SuccessRate => rate(requests.saturating_sub(errors)),
        Measure::ErrorRate => rate(errors),
        Measure::LatencyP50 => quantile(0.50),
        Measure::LatencyP90 => quantile(0.90),
        Measure::LatencyP99 => quantile(0.99),
        Measure::Requests => number(requests as f64),
        // Refused for the router when the config loads.
        Measure::CompareErrors | Measure::CompareLatency => Err(format!(
            "`{}` needs a baseline in the same window",
            measure.name()
        )),
    };
    Reading {
        value,
        baseline: None,
        requests: Some(requests),
    }
}

/// The upper bound of the bucket holding quantile `q`; the +Inf bucket
/// reports the largest finite bound. None when the window answered nothing.
fn quantile(bounds: &[f64], buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    let largest = bounds.last().copied().unwrap_or(0.0);
    for (i, count) in buckets.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(bounds.get(i).copied().unwrap_or(largest));
        }
    }
    Some(largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(requests: u64, errors: u64, counts: Vec<u64>) -> Counters {
        Counters {
            requests,
            responses_5xx: errors,
            latency_ms: Latency {
                bounds: vec![1.0, 10.0, 100.0],
                counts,
            },
        }
    }

    #[test]
    fn a_window_counts_only_what_happened_in_it() {
        let start = counters(100, 10, vec![50, 40, 0, 0]);
        let end = counters(200, 20, vec![50, 40, 90, 10]);
        let success = measured(Measure::SuccessRate, &start, &end);
        assert_eq!(success.requests, Some(100));
        assert_eq!(success.value, Ok(serde_json::json!(0.9)));
        assert_eq!(
            measured(Measure::ErrorRate, &start, &end).value,
            Ok(serde_json::json!(0.1))
        );
        assert_eq!(
            measured(Measure::LatencyP50, &start, &end).value,
            Ok(serde_json::json!(100.0))
        );
        // The +Inf bucket reports the largest bound.
        assert_eq!(
            measured(Measure::LatencyP99, &start, &end).value,
            Ok(serde_json::json!(100.0))
        );
    }

    #[test]
    fn an_idle_window_has_no_rate_and_counts_zero_requests() {
        let idle = counters(5, 0, vec![5, 0, 0, 0]);
        let reading = measured(Measure::SuccessRate, &idle, &idle);
        assert_eq!(reading.value, Ok(serde_json::Value::Null));
        assert_eq!(reading.requests, Some(0));
    }
}
