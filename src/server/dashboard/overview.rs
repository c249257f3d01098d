//! The dashboard's first page: the apps and what is live on each, the
//! metrics (figures and charts over the deployments), the deployment list.

use maud::{Markup, PreEscaped, html};
use serde_json::Value;

use super::charts;
use crate::projections::history::HistoryRow;
use crate::projections::metrics::Metrics;
use crate::projections::model::Record;

/// Deployments the list shows.
pub const LISTED: usize = 50;

pub struct Overview {
    pub apps: Vec<Value>,
    pub metrics: Metrics,
    pub rows: Vec<HistoryRow>,
    /// Every record, oldest first, for the charts.
    pub records: Vec<Record>,
}

pub fn render(o: &Overview) -> Markup {
    html! {
        section {
            h2 { "Apps" }
            @if o.apps.is_empty() {
                p.muted { "No app deployed yet: " code { "deployflow deploy" } "." }
            } @else {
                table {
                    tr { th { "app" } th { "live" } th { "since" } th { "deploying" } th { "kept for rollback" } }
                    @for app in &o.apps {
                        tr {
                            td { b { (text(&app["app"])) } }
                            td {
                                @if app["live"].is_null() { span.muted { "nothing" } }
                                @else { (text(&app["live"]["release"])) " on " (text(&app["live"]["slot"])) " " span.muted { (text(&app["live"]["endpoint"])) } }
                            }
                            td { (when(&app["live"]["since"])) }
                            td {
                                @if let Some(id) = app["candidate"]["id"].as_str() {
                                    a href={ "/deployments/" (id) } { (text(&app["candidate"]["release"])) } " (" (text(&app["candidate"]["phase"])) ")"
                                }
                            }
                            td {
                                @for kept in app["retained"].as_array().into_iter().flatten() {
                                    (text(&kept["release"])) " "
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Metrics" }
            (figures(&o.metrics))
            div.charts { (PreEscaped(charts_svg(&o.records))) }
        }
        section {
            h2 { "Deployments" }
            table {
                tr { th { "deployment" } th { "app" } th { "release" } th { "status" } th { "phase" } th { "started" } th { "duration" } th { "fixes" } th { "rounds" } }
                @for row in &o.rows {
                    tr {
                        td { a href={ "/deployments/" (row.id) } { (row.id.get(..8).unwrap_or(&row.id)) } }
                        td { (row.app) }
                        td { (row.release) }
                        td { span class={ "status " (row.status) } { (row.status) } }
                        td { (row.phase) }
                        td { (row.started_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()) }
                        td { (row.duration_ms.map(seconds).unwrap_or_default()) }
                        td { (row.fix_iterations) }
                        td { (row.review_rounds) }
                    }
                }
            }
        }
    }
}

fn figures(m: &Metrics) -> Markup {
    let percent = |share: f64| format!("{:.0} %", share * 100.0);
    let duration = |ms: Option<i64>| ms.map(seconds).unwrap_or_else(|| "-".into());
    html! {
        div.figures {
            div.figure { b { (m.deployments) } "deployments" }
            // Counts, not only shares, so the two figures read together:
            // a release that went live and was rolled back later counts
            // in "went live" and not in "still promoted".
            div.figure { b { (m.promoted) " (" (percent(m.success_rate)) ")" } "ended promoted" }
            div.figure { b { (format!("{:.1}", m.promotions_per_day)) } "went live a day (DORA frequency)" }
            div.figure { b { (duration(m.lead_time_ms.p50)) } "lead time, median" }
            div.figure { b { (percent(m.change_failure_rate)) } "change failure rate" }
            div.figure { b { (duration(m.mean_time_to_restore_ms)) } "time to restore, mean" }
            div.figure { b { (duration(m.duration_ms.p50)) } "deployment, median" }
            div.figure { b { (format!("{:.1}", m.fix_iterations.mean)) } "fixes per deployment" }
        }
    }
}

/// Duration and fix iterations of each finished deployment, in order, and
/// the outcomes.
fn charts_svg(records: &[Record]) -> String {
    let finished: Vec<&Record> = records.iter().filter(|r| r.outcome.is_some()).collect();
    let durations: Vec<(usize, f64)> = finished
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let end = r.finished_at?;
            Some((i, (end - r.started_at).num_milliseconds() as f64 / 1000.0))
        })
        .collect();
    let fixes: Vec<(usize, f64)> = finished
        .iter()
        .enumerate()
        .map(|(i, r)| (i, f64::from(r.fixes.total())))
        .collect();
    let mut outcomes: std::collections::BTreeMap<&str, u64> = Default::default();
    for record in records {
        *outcomes
            .entry(crate::projections::history::status_name(record.outcome))
            .or_default() += 1;
    }
    let outcomes: Vec<(String, u64)> = outcomes
        .into_iter()
        .map(|(status, n)| (status.to_string(), n))
        .collect();
    [
        charts::line("Deployment duration", "seconds", &durations),
        charts::line("Fix iterations", "fixes", &fixes),
        charts::bars("Outcomes", &outcomes),
        charts::bars(
            "Went live each day (DORA frequency)",
            &promotions_by_day(records),
        ),
        {
            let (unit, points) = lead_times(records);
            charts::line("Lead time, commit to live (DORA)", unit, &points)
        },
    ]
    .concat()
}

/// Days shown in the promotions chart, today included.
const DAYS: i64 = 14;

/// Releases that went live on each of the last [`DAYS`] days, oldest
/// first: what the "went live a day" figure counts, so the two agree.
fn promotions_by_day(records: &[Record]) -> Vec<(String, u64)> {
    let today = chrono::Utc::now().date_naive();
    (0..DAYS)
        .rev()
        .map(|back| {
            let day = today - chrono::Duration::days(back);
            let count = records
                .iter()
                .filter(|r| r.went_live_at.is_some_and(|t| t.date_naive() == day))
                .count() as u64;
            (day.format("%m-%d").to_string(), count)
        })
        .collect()
}

/// From each live release's commit to it serving, where the commit time is
/// known, in the order they went live, in the unit that suits the longest
/// (lead times of minutes drawn in hours read as a flat zero).
fn lead_times(records: &[Record]) -> (&'static str, Vec<(usize, f64)>) {
    let seconds: Vec<i64> = records
        .iter()
        .filter_map(|r| Some((r.went_live_at? - r.committed_at?).num_seconds().max(0)))
        .collect();
    let longest = seconds.iter().copied().max().unwrap_or(0);
    let (unit, per) = match longest {
        0..120 => ("seconds", 1.0),
        120..7_200 => ("minutes", 60.0),
        7_200..172_800 => ("hours", 3600.0),
        _ => ("days", 86_400.0),
    };
    let points = seconds
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i, s as f64 / per))
        .collect();
    (unit, points)
}

pub fn seconds(ms: i64) -> String {
    crate::projections::words::duration(ms)
}

/// A JSON timestamp to the second, as the deployment list shows times.
fn when(value: &Value) -> String {
    value
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A JSON value as text: strings without their quotes, null as nothing.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
