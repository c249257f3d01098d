//! The analysis loop's own overhead per measurement, through the binary.
//!
//! A release runs a pre-promotion analysis of `DEPLOYFLOW_BENCH_MEASUREMENTS`
//! measurements (default 20) one second apart, each a `web` metric read
//! from a local JSON endpoint and judged by a CEL condition. The log's
//! timestamps give the time between one measurement and the next; less the
//! one-second window, that is what deployflow spends per measurement: the
//! decision and its commit, announcing the effect, the provider's read, the
//! condition, the measurement's commit. The baseline, measured in the same
//! run, is the read alone (a GET of the same endpoint from this process)
//! and a durable append to a log on the same disk, which a measurement
//! pays twice.
//!
//! `cargo bench --bench analysis`; under `cargo test --benches` a quick
//! pass of 3 measurements shows it still runs.
// Benches start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::json_server::JsonServer;
use common::scenario::{Knobs, Scenario, text};
use deployflow::events::samples::sample;
use deployflow::events::{EventKind, EventStore, StreamId};

const WINDOW: Duration = Duration::from_secs(1);

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let count: u32 = if full {
        std::env::var("DEPLOYFLOW_BENCH_MEASUREMENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20)
    } else {
        3
    };
    let endpoint = JsonServer::start(r#"{"checks": {"error_rate": 0.002}}"#);

    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    let out = s.deploy("v1");
    assert!(out.status.success(), "v1: {}", text(&out));
    let templates = format!(
        r#"
[analysis.watch]
interval_s = 1
count = {count}
[[analysis.watch.metrics]]
name = "errors"
provider = "web"
url = "http://{addr}/status?release={{{{release}}}}"
json_path = "$.checks.error_rate"
success = "result < 0.01"
"#,
        addr = endpoint.addr
    );
    s.release(
        "v2",
        &Knobs {
            review: format!("{templates}\n[rollout]\npre_promotion = [\"watch\"]\n"),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v2");
    assert!(out.status.success(), "v2: {}", text(&out));
    let id = s.last_id();

    // From the analysis' start (its first window opens at once) to each
    // measurement, window after window.
    let at = |kind: &str| -> Vec<DateTime<Utc>> {
        s.events(&id)
            .iter()
            .filter(|e| e["kind"] == kind)
            .filter_map(|e| e["at"].as_str()?.parse().ok())
            .collect()
    };
    let started = at("analysis_started");
    let measured = at("analysis_measured");
    assert_eq!(measured.len(), count as usize, "one event per measurement");
    let mut overheads: Vec<f64> = std::iter::once(started[0])
        .chain(measured.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|pair| {
            let gap = (pair[1] - pair[0]).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            gap - WINDOW.as_secs_f64() * 1000.0
        })
        .collect();
    overheads.sort_by(f64::total_cmp);

    // The baseline: the provider's read alone, the same GET from here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut reads: Vec<f64> = runtime.block_on(async {
        let client = deployflow::adapters::http::client_builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut times = Vec::new();
        for _ in 0..count.max(21) {
            let started = Instant::now();
            let answer = client
                .get(format!("http://{}/status?release=v2", endpoint.addr))
                .send()
                .await
                .expect("the endpoint");
            let _ = answer.bytes().await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times
    });
    reads.sort_by(f64::total_cmp);

    // The second baseline: one durable append to a log on this disk, which
    // each measurement pays twice (the effect announced with the decision
    // that made it next, then the measurement).
    let log_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("analysis-bench-log");
    let _ = std::fs::remove_dir_all(&log_dir);
    let store = EventStore::open(&log_dir).expect("open a log");
    let event = sample(EventKind::AnalysisMeasured);
    let stream = StreamId::new();
    let mut appends: Vec<f64> = (0..count.max(21) as u64)
        .map(|version| {
            let started = Instant::now();
            store
                .append_blocking(stream, version, std::slice::from_ref(&event))
                .expect("append");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    appends.sort_by(f64::total_cmp);
    drop(store);
    let _ = std::fs::remove_dir_all(&log_dir);

    let median = |v: &[f64]| v[v.len() / 2];
    let (loop_ms, read_ms, append_ms) = (median(&overheads), median(&reads), median(&appends));
    println!("analysis loop, {count} measurements one window ({WINDOW:?}) apart:");
    println!(
        "  per measurement beyond its window: p50 {loop_ms:.2} ms, max {:.2} ms",
        overheads[overheads.len() - 1]
    );
    println!("  baseline, the provider's read alone (a GET): p50 {read_ms:.2} ms");
    println!("  baseline, one durable append to the log: p50 {append_ms:.2} ms");
    let own = (loop_ms - read_ms).max(0.0);
    println!(
        "  deployflow's own time: {own:.2} ms per measurement ({:.3} % of the window); against 2 appends {:.2}x",
        own / (WINDOW.as_secs_f64() * 1000.0) * 100.0,
        own / (2.0 * append_ms).max(1e-3)
    );
}
