//! `router`: real traffic to green through deployflow's router, from its
//! per-upstream counters, diffed between the start and the end of the
//! window: success and error rates, latency quantiles from the histogram's
//! buckets, and the request count `min_requests` is checked against.

use std::time::Duration;

use serde::Deserialize;

use super::{comparison, number};
use crate::adapters::router_client::RouterClient;
use crate::config::{Measure, Metric};
use crate::flow::compare::slower_p_value_grouped;
use crate::flow::measurement::Reading;
use crate::router::latency;

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
/// be read), blue's where there is a blue, and where to read them again.
pub struct Window {
    router: RouterClient,
    green: Side,
    blue: Option<Side>,
}

struct Side {
    upstream: String,
    start: Result<Counters, String>,
}

const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// Every upstream's counters, one read for both sides.
async fn all_counters(router: &RouterClient) -> Result<serde_json::Value, String> {
    router
        .stats(STATS_TIMEOUT)
        .await
        .map_err(|e| format!("the router's counters: {e}"))
}

fn counters_of(
    stats: &Result<serde_json::Value, String>,
    upstream: &str,
) -> Result<Counters, String> {
    match stats.as_ref()?.get(upstream) {
        // Not counted yet: nothing has been sent to it.
        None => Ok(Counters::default()),
        Some(found) => serde_json::from_value(found.clone())
            .map_err(|e| format!("the router's counters for {upstream}: {e}")),
    }
}

/// Opens a window on green's upstream, and on blue's when there is one
/// (the comparisons' baseline).
pub async fn window_start(router: RouterClient, green: &str, blue: Option<&str>) -> Window {
    let stats = all_counters(&router).await;
    let side = |upstream: &str| Side {
        upstream: upstream.to_string(),
        start: counters_of(&stats, upstream),
    };
    Window {
        green: side(green),
        blue: blue.map(side),
        router,
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
    let stats = all_counters(&window.router).await;
    let span = |side: &Side| -> Result<(Counters, Counters), String> {
        Ok((side.start.clone()?, counters_of(&stats, &side.upstream)?))
    };
    let green = match span(&window.green) {
        Ok(green) => green,
        Err(why) => return failed(why),
    };
    let measure = metric.measure.unwrap_or(Measure::Requests);
    if !measure.compares() {
        return measured(measure, &green.0, &green.1);
    }
    let Some(blue) = &window.blue else {
        return failed("no blue to compare with: this is the app's first deploy".into());
    };
    match span(blue) {
        Ok(blue) => compared(measure, (&green.0, &green.1), (&blue.0, &blue.1)),
        Err(why) => failed(why),
    }
}

/// One side's requests, 5xx and latency buckets over a window.
fn diff(start: &Counters, end: &Counters) -> (u64, u64, Vec<u64>) {
    let buckets = end
        .latency_ms
        .counts
        .iter()
        .enumerate()
        .map(|(i, n)| n.saturating_sub(start.latency_ms.counts.get(i).copied().unwrap_or(0)))
        .collect();
    (
        end.requests.saturating_sub(start.requests),
        end.responses_5xx.saturating_sub(start.responses_5xx),
        buckets,
    )
}

/// Green against blue over the same window, from both upstreams' counters
/// (a canary's two sides both taking real traffic): errors by the
/// two-proportion test, latency by Mann-Whitney U over the two histograms.
pub fn compared(
    measure: Measure,
    green: (&Counters, &Counters),
    blue: (&Counters, &Counters),
) -> Reading {
    let bounds = &green.1.latency_ms.bounds;
    let (g, b) = (diff(green.0, green.1), diff(blue.0, blue.1));
    let summary = |(requests, errors, buckets): &(u64, u64, Vec<u64>)| comparison::Summary {
        requests: *requests,
        errors: *errors,
        p50: latency::quantile(bounds, buckets, 0.50),
        p99: latency::quantile(bounds, buckets, 0.99),
    };
    let (green_summary, blue_summary) = (summary(&g), summary(&b));
    if measure == Measure::CompareErrors {
        return comparison::errors(&green_summary, &blue_summary);
    }
    let groups: Vec<(u64, u64)> = (0..g.2.len().max(b.2.len()))
        .map(|i| {
            (
                g.2.get(i).copied().unwrap_or(0),
                b.2.get(i).copied().unwrap_or(0),
            )
        })
        .collect();
    comparison::latency(
        slower_p_value_grouped(&groups),
        &green_summary,
        &blue_summary,
    )
}

/// `measure` over the window between `start` and `end`.
pub fn measured(measure: Measure, start: &Counters, end: &Counters) -> Reading {
    let (requests, errors, buckets) = diff(start, end);
    let rate = |n: u64| {
        if requests == 0 {
            Ok(serde_json::Value::Null)
        } else {
            number(n as f64 / requests as f64)
        }
    };
    let quantile = |q: f64| match latency::quantile(&end.latency_ms.bounds, &buckets, q) {
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
        // `read` sends these to `compared`.
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
    fn green_against_blue_in_the_same_window_from_both_histograms() {
        let zero = counters(0, 0, vec![0, 0, 0, 0]);
        let slow_green = counters(100, 30, vec![0, 10, 90, 0]);
        let blue = counters(100, 1, vec![95, 5, 0, 0]);
        let latency = compared(
            Measure::CompareLatency,
            (&zero, &slow_green),
            (&zero, &blue),
        );
        let value = latency.value.clone().unwrap_or_default();
        assert!(value["p_value"].as_f64().unwrap_or(1.0) < 0.001, "{value}");
        assert_eq!(value["ratio_p50"], 100.0, "{value}");
        assert_eq!(
            latency.baseline,
            Some(serde_json::json!({"p50": 1.0, "p99": 10.0}))
        );
        assert_eq!(latency.requests, Some(100));
        let errors = compared(Measure::CompareErrors, (&zero, &slow_green), (&zero, &blue));
        let value = errors.value.unwrap_or_default();
        assert!(value["p_value"].as_f64().unwrap_or(1.0) < 0.001, "{value}");
        assert_eq!(value["rate"], 0.3);
        // The same on both sides: nothing to tell apart.
        let same = compared(Measure::CompareLatency, (&zero, &blue), (&zero, &blue));
        assert!(
            same.value.unwrap_or_default()["p_value"]
                .as_f64()
                .unwrap_or(0.0)
                > 0.3
        );
        // Blue idle in the window (Blue/Green after the switch): the fewer
        // side has 0 requests, so `min_requests` makes it inconclusive.
        let idle = compared(Measure::CompareErrors, (&zero, &slow_green), (&zero, &zero));
        assert_eq!(idle.requests, Some(0));
    }

    #[test]
    fn an_idle_window_has_no_rate_and_counts_zero_requests() {
        let idle = counters(5, 0, vec![5, 0, 0, 0]);
        let reading = measured(Measure::SuccessRate, &idle, &idle);
        assert_eq!(reading.value, Ok(serde_json::Value::Null));
        assert_eq!(reading.requests, Some(0));
    }
}
