//! The projections at scale, from one run:
//! - a generated log of `DEPLOYFLOW_BENCH_EVENTS` events (default 1,000,000)
//!   of realistic deployments (the real flow driven by a simulated world);
//! - a rebuild of the read model from sequence 0, in events/s (target:
//!   500,000 or more);
//! - `deployflow serve` from start to ready on that log, thanks to the
//!   checkpoint (target: 1 s at most);
//! - `GET /api/metrics` and `deployflow metrics --json` answering (target:
//!   50 ms at most).
//!
//! `cargo bench --bench projections`; under `cargo test --benches` a quick
//! pass on a small log shows it still runs.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deployflow::events::EventStore;
use deployflow::projections::generate;
use deployflow::projections::model::Model;
use deployflow::projections::runner::{ReadModel, catch_up};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let events: u64 = std::env::var("DEPLOYFLOW_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
        / if full { 1 } else { 50 };
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("projections-bench");
    let _ = std::fs::remove_dir_all(&root);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let written = {
        let store = EventStore::open(&root).expect("open the log");
        runtime
            .block_on(generate::write(&store, 64, events, 2026))
            .expect("generate")
    };
    let generated = started.elapsed();

    // Rebuild: the whole log folded into a fresh model, best of 3.
    let store = EventStore::open(&root).expect("reopen the log");
    let mut best = Duration::MAX;
    let mut model = Model::default();
    for _ in 0..3 {
        let started = Instant::now();
        model = Model::default();
        catch_up(&store, &mut model).expect("fold");
        best = best.min(started.elapsed());
    }
    let deployments = model.records().len();
    // The checkpoint serve starts from.
    ReadModel::open(&store, &root)
        .expect("read model")
        .save()
        .expect("save");
    let snapshot = rmp_serde::to_vec_named(&model)
        .map(|b| b.len())
        .unwrap_or(0);
    drop(store);

    let api = free_addr();
    let (ready, mut serve) = start_serve(&root, api);
    let http = runtime.block_on(async {
        let client = deployflow::adapters::http::client_builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut times = Vec::new();
        for _ in 0..21 {
            let started = Instant::now();
            let response = client
                .get(format!("http://{api}/api/metrics"))
                .send()
                .await
                .expect("metrics");
            assert!(response.status().is_success());
            let _ = response.bytes().await;
            times.push(started.elapsed());
        }
        times.sort();
        times[times.len() / 2]
    });
    let cli = {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .args(["--json", "--server", &format!("http://{api}"), "--data-dir"])
            .arg(&root)
            .arg("metrics")
            .output()
            .expect("deployflow metrics");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let _ = serve.kill();
    let _ = serve.wait();

    let per_second = written as f64 / best.as_secs_f64();
    println!("projections benchmark: {written} events, {deployments} deployments, 64 apps");
    println!(
        "generate (one append per decision): {:.1} s, {:.0} events/s",
        generated.as_secs_f64(),
        written as f64 / generated.as_secs_f64()
    );
    println!(
        "rebuild from sequence 0 (best of 3): {:.0} ms, {:.0} events/s (target 500,000)",
        best.as_secs_f64() * 1000.0,
        per_second
    );
    println!("read model checkpoint: {:.1} MB", snapshot as f64 / 1e6);
    println!(
        "serve from start to ready: {:.0} ms (target 1000)",
        ready.as_secs_f64() * 1000.0
    );
    println!(
        "GET /api/metrics, median of 21: {:.1} ms; `deployflow metrics --json` process: {:.0} ms (target 50)",
        http.as_secs_f64() * 1000.0,
        cli.as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Starts `deployflow serve` and returns how long until its API answered.
fn start_serve(data_dir: &Path, api: SocketAddr) -> (Duration, Child) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .args(["serve", "--listen", &api.to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    // Ready: `/api/health` answers 200, which it does once the log and the
    // read model are loaded and the actors run.
    while !healthy(api) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    (started.elapsed(), child)
}

fn healthy(api: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(api) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
