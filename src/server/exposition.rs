//! `GET /metrics`: the Prometheus text exposition (format 0.0.4). Folded at
//! each scrape from the read model (deployments by status, phase and
//! deployment durations as histograms, fix attempts by tier, verdicts by
//! member, role and verdict) and from the counters of each router the apps'
//! configs name (requests, 5xx, failures, in flight, health, latency).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::proto::{Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use serde_json::Value;

use super::state::Shared;
use crate::adapters::router_client::RouterClient;
use crate::projections::history;
use crate::projections::model::Model;
use crate::router::latency;

/// A router that does not answer this fast is reported down, not waited for.
const ROUTER_TIMEOUT: Duration = Duration::from_secs(1);

/// Phase and deployment durations, in seconds: a health check's second to a
/// long review's hour.
const DURATION_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Every status a deployment can be in, so each has a series from the start.
const STATUSES: [&str; 7] = [
    "in_progress",
    "promoted",
    "rolled_back",
    "returned",
    "rejected",
    "aborted",
    "failed",
];

/// The Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "control plane",
    responses((status = 200, description = "text/plain; version=0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics(State(shared): State<Shared>) -> Response {
    let model = shared.model.clone();
    let caught = tokio::task::spawn_blocking(move || model.catch_up()).await;
    if let Ok(Err(e)) = caught {
        tracing::warn!("metrics from a read model that could not catch up: {e}");
    }
    let (families, routers) = {
        let model = shared.model.read();
        (from_model(&model), router_admins(&model))
    };
    let mut families = match families {
        Ok(families) => families,
        Err(e) => return failed(e),
    };
    families.extend(from_routers(&routers, &shared.data_dir).await);
    let mut text = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut text) {
        return failed(e);
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response()
}

fn failed(e: prometheus::Error) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("metrics could not be encoded: {e}\n"),
    )
        .into_response()
}

fn router_admins(model: &Model) -> BTreeSet<SocketAddr> {
    model
        .apps()
        .filter_map(|(_, state)| state.router_admin.as_deref()?.parse().ok())
        .collect()
}

/// The read model's measures, through a registry made for this scrape.
fn from_model(model: &Model) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let registry = Registry::new_custom(Some("deployflow".into()), None)?;
    let deployments = IntGaugeVec::new(
        Opts::new("deployments", "Deployments by status."),
        &["status"],
    )?;
    let duration = HistogramVec::new(
        HistogramOpts::new(
            "deployment_duration_seconds",
            "Finished deployments' durations, from request to end.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["status"],
    )?;
    let phases = HistogramVec::new(
        HistogramOpts::new(
            "phase_duration_seconds",
            "Time each deployment spent in each phase it left.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["phase"],
    )?;
    let fixes = IntCounterVec::new(
        Opts::new("fix_attempts_total", "Fix attempts by tier."),
        &["tier"],
    )?;
    let verdicts = IntCounterVec::new(
        Opts::new(
            "verdicts_total",
            "Reviewers' verdicts by member, role and verdict.",
        ),
        &["member", "role", "verdict"],
    )?;
    let automated = IntCounter::with_opts(Opts::new(
        "automated_rollbacks_total",
        "Deployments a failed analysis rolled back.",
    ))?;
    let runs = IntCounterVec::new(
        Opts::new("analysis_runs_total", "Analysis runs by verdict."),
        &["verdict"],
    )?;
    let detect = prometheus::Histogram::with_opts(
        HistogramOpts::new(
            "time_to_detect_seconds",
            "From the switch to the rollback a post-promotion analysis started.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
    )?;
    registry.register(Box::new(automated.clone()))?;
    registry.register(Box::new(runs.clone()))?;
    registry.register(Box::new(detect.clone()))?;
    registry.register(Box::new(deployments.clone()))?;
    registry.register(Box::new(duration.clone()))?;
    registry.register(Box::new(phases.clone()))?;
    registry.register(Box::new(fixes.clone()))?;
    registry.register(Box::new(verdicts.clone()))?;

    for status in STATUSES {
        deployments.with_label_values(&[status]).set(0);
    }
    for tier in ["driver", "senior", "trio"] {
        fixes.with_label_values(&[tier]);
    }
    for verdict in ["successful", "failed", "inconclusive"] {
        runs.with_label_values(&[verdict]);
    }
    for record in model.records() {
        if record.automated_rollback {
            automated.inc();
        }
        for (verdict, count) in [
            ("successful", record.analysis_runs.successful),
            ("failed", record.analysis_runs.failed),
            ("inconclusive", record.analysis_runs.inconclusive),
        ] {
            runs.with_label_values(&[verdict]).inc_by(u64::from(count));
        }
        if let Some(ms) = record.time_to_detect_ms {
            detect.observe(ms.max(0) as f64 / 1000.0);
        }
        let status = history::status_name(record.outcome);
        deployments.with_label_values(&[status]).inc();
        if let Some(finished) = record.finished_at {
            let seconds = (finished - record.started_at).num_milliseconds().max(0) as f64 / 1000.0;
            duration.with_label_values(&[status]).observe(seconds);
        }
        for (phase, ms) in &record.phases_ms {
            phases
                .with_label_values(&[phase.as_str()])
                .observe(*ms as f64 / 1000.0);
        }
        fixes
            .with_label_values(&["driver"])
            .inc_by(u64::from(record.fixes.driver));
        fixes
            .with_label_values(&["senior"])
            .inc_by(u64::from(record.fixes.senior));
        fixes
            .with_label_values(&["trio"])
            .inc_by(u64::from(record.fixes.trio));
    }
    for (member, roles) in model.verdicts() {
        for (role, counts) in roles {
            for (verdict, count) in counts {
                verdicts
                    .with_label_values(&[member.as_str(), role.as_str(), verdict.as_str()])
                    .inc_by(*count);
            }
        }
    }
    Ok(registry.gather())
}

/// Each router's counters per upstream, and whether it answered.
async fn from_routers(
    admins: &BTreeSet<SocketAddr>,
    data_dir: &std::path::Path,
) -> Vec<MetricFamily> {
    let mut up = family(
        "deployflow_router_up",
        "Whether the router answered this scrape.",
        MetricType::GAUGE,
    );
    let mut requests = family(
        "deployflow_router_requests_total",
        "Requests forwarded, per upstream.",
        MetricType::COUNTER,
    );
    let mut errors = family(
        "deployflow_router_responses_5xx_total",
        "5xx responses, the router's own 502/504 included, per upstream.",
        MetricType::COUNTER,
    );
    let mut failures = family(
        "deployflow_router_failures_total",
        "Requests the upstream never answered (the router sent 502 or 504), per upstream.",
        MetricType::COUNTER,
    );
    let mut retries = family(
        "deployflow_router_retries_total",
        "Connects tried again because one failed before the request was written, per upstream.",
        MetricType::COUNTER,
    );
    let mut in_flight = family(
        "deployflow_router_in_flight",
        "Requests in flight, per upstream.",
        MetricType::GAUGE,
    );
    let mut healthy = family(
        "deployflow_router_upstream_healthy",
        "0 after three requests in a row the upstream did not answer.",
        MetricType::GAUGE,
    );
    let mut latency = family(
        "deployflow_router_latency_seconds",
        "Time to the upstream's response headers, per upstream.",
        MetricType::HISTOGRAM,
    );
    for admin in admins {
        let client = RouterClient::new(*admin, &data_dir.join("router"));
        let stats = client.stats(ROUTER_TIMEOUT).await.ok();
        let router = admin.to_string();
        push(
            &mut up,
            &[("router", &router)],
            gauge(f64::from(u8::from(stats.is_some()))),
        );
        let Some(Value::Object(upstreams)) = stats else {
            continue;
        };
        for (upstream, s) in &upstreams {
            let labels = [("router", router.as_str()), ("upstream", upstream.as_str())];
            let number = |key: &str| s[key].as_f64().unwrap_or(0.0);
            push(&mut requests, &labels, counter(number("requests")));
            push(&mut errors, &labels, counter(number("responses_5xx")));
            push(&mut failures, &labels, counter(number("failures")));
            push(&mut retries, &labels, counter(number("retries")));
            push(&mut in_flight, &labels, gauge(number("in_flight")));
            push(
                &mut healthy,
                &labels,
                gauge(if s["healthy"] == false { 0.0 } else { 1.0 }),
            );
            push(&mut latency, &labels, histogram(&s["latency_ms"]));
        }
    }
    [
        up, requests, errors, failures, retries, in_flight, healthy, latency,
    ]
    .into_iter()
    .filter(|f| !f.get_metric().is_empty())
    .collect()
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.into());
    family.set_help(help.into());
    family.set_field_type(kind);
    family
}

fn push(family: &mut MetricFamily, labels: &[(&str, &str)], mut metric: Metric) {
    metric.set_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).into());
                pair.set_value((*value).into());
                pair
            })
            .collect(),
    );
    family.mut_metric().push(metric);
}

fn gauge(value: f64) -> Metric {
    let mut gauge = prometheus::proto::Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::default();
    metric.set_gauge(gauge);
    metric
}

fn counter(value: f64) -> Metric {
    let mut counter = prometheus::proto::Counter::default();
    counter.set_value(value);
    let mut metric = Metric::default();
    metric.set_counter(counter);
    metric
}

/// The router's latency buckets (per-bucket counts in ms, the last for
/// +Inf) as a cumulative histogram in seconds, over the coarse bounds.
fn histogram(latency: &Value) -> Metric {
    let bounds: Vec<f64> = latency["bounds"]
        .as_array()
        .map(|b| b.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let counts: Vec<u64> = latency["counts"]
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    // The fine log-linear buckets gathered into the coarse ones Prometheus
    // users expect (a series per bucket costs them storage).
    let coarse = latency::EXPOSITION_BOUNDS_MS;
    let gathered = latency::coarsen(&bounds, &counts, &coarse);
    let mut cumulative = 0;
    let buckets = coarse
        .iter()
        .zip(&gathered)
        .map(|(bound, count)| {
            cumulative += count;
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(bound / 1000.0);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect();
    let total: u64 = counts.iter().sum();
    let mut histogram = Histogram::default();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(total);
    histogram.set_sample_sum(latency["mean"].as_f64().unwrap_or(0.0) * total as f64 / 1000.0);
    let mut metric = Metric::default();
    metric.set_histogram(histogram);
    metric
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::router::stats::UpstreamStats;

    #[test]
    fn the_router_histogram_is_shown_in_its_coarse_buckets_with_every_request() {
        let stats = UpstreamStats::default();
        for us in [300, 900, 1_500, 40_000, 30_000_000] {
            stats.answered(200, Duration::from_micros(us));
        }
        let snapshot = serde_json::to_value(stats.snapshot()).unwrap_or_default();
        let metric = histogram(&snapshot["latency_ms"]);
        let shown = metric.get_histogram();
        assert_eq!(shown.get_sample_count(), 5);
        let buckets: Vec<(f64, u64)> = shown
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        assert_eq!(buckets.len(), latency::EXPOSITION_BOUNDS_MS.len());
        assert_eq!(buckets[0], (0.001, 2), "two under 1 ms");
        assert_eq!(buckets[1], (0.0025, 3));
        assert_eq!(buckets[5], (0.05, 4), "40 ms under 50 ms");
        assert_eq!(buckets[11], (10.0, 4), "30 s only in +Inf");
    }
}
