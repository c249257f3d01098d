//! `deployflow demo`: the example app, end to end, on the embedded defaults
//! (process backend, built-in reviewers, built-in router): v1, then v2
//! Blue/Green under traffic, then a broken v3 that rolls back while v2 keeps
//! serving; a v4 that passes its tests and reviews but fails a third of real
//! requests, rolled back by the analysis after the switch; and a v5 five
//! times slower, stopped before the switch by comparing it with v2 under
//! the built-in load; a v6 deployed as a canary (10 %, 50 %, all, each
//! slice judged against blue on the same traffic) and a v7 whose latency
//! regression is caught at 10 % while blue serves the other 90 %. Prints
//! the timelines, the audit, the analyses and the metrics, and leaves
//! nothing running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::client::Client;
use super::progress::Progress;
use super::{Exit, Global, analysis, audit, deploy, metrics, show};

/// The example's files, written into each release's code directory.
const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../examples/hello/README.md")),
    (
        "REQUIREMENTS.md",
        include_str!("../../examples/hello/REQUIREMENTS.md"),
    ),
    (
        "src/main.rs",
        include_str!("../../examples/hello/src/main.rs"),
    ),
    (
        "src/app/mod.rs",
        include_str!("../../examples/hello/src/app/mod.rs"),
    ),
    (
        "src/app/server.rs",
        include_str!("../../examples/hello/src/app/server.rs"),
    ),
    (
        "src/app/settings.rs",
        include_str!("../../examples/hello/src/app/settings.rs"),
    ),
    (
        "src/app/smoke.rs",
        include_str!("../../examples/hello/src/app/smoke.rs"),
    ),
];

/// Three free loopback ports below Linux's ephemeral range (from 32768):
/// the router takes two of them only at the first switch, and the app's
/// instances, started before, take ephemeral ports that must not collide.
fn free_addrs() -> anyhow::Result<[SocketAddr; 3]> {
    let offset = (std::process::id() % 10_000) as u16;
    let mut held = Vec::new();
    for i in 0..12_000u16 {
        let addr = SocketAddr::from(([127, 0, 0, 1], 20_000 + (offset + i) % 12_000));
        if let Ok(listener) = std::net::TcpListener::bind(addr) {
            // Held until all three are found, so no port is chosen twice.
            held.push(listener);
            if held.len() == 3 {
                let addrs: Vec<SocketAddr> =
                    held.iter().filter_map(|l| l.local_addr().ok()).collect();
                if let [a, b, c] = addrs[..] {
                    return Ok([a, b, c]);
                }
            }
        }
    }
    anyhow::bail!("no three free ports between 20000 and 32000")
}

/// v4's watch after the switch: real users' success rate through the
/// router, three one-second windows, blue kept meanwhile.
const WATCHED: &str = r#"
[analysis.users]
interval_s = 1
count = 3
[[analysis.users.metrics]]
name = "success"
provider = "router"
measure = "success_rate"
success = "result >= 0.95"
min_requests = 10

[rollout]
post_promotion = ["users"]
scale_down_delay_s = 5
"#;

/// v5's check before the switch: its latency against blue's, under the
/// built-in load, in the same two-second window.
const COMPARED: &str = r#"
[analysis.speed]
interval_s = 2
[[analysis.speed.metrics]]
name = "latency"
provider = "load"
measure = "compare_latency"
min_requests = 20

[rollout]
pre_promotion = ["speed"]
load = { rps = 30, path = "/" }
"#;

/// v6's and v7's canary: 10 %, then 50 %, then all of the traffic, each
/// slice judged against blue on the real traffic of the same window.
const CANARY: &str = r#"
[analysis.slice]
interval_s = 2
count = 1
[[analysis.slice.metrics]]
name = "latency"
provider = "router"
measure = "compare_latency"
success = "result.ratio_p50 < 3.0"
min_requests = 10
[[analysis.slice.metrics]]
name = "errors"
provider = "router"
measure = "compare_errors"
min_requests = 10

[rollout]
strategy = "canary"
steps = [ { set_weight = 10 }, { analysis = "slice" }, { set_weight = 50 },
          { analysis = "slice" }, { set_weight = 100 } ]
"#;

/// Writes release `label`'s code and config; `env` adds its knobs, `more`
/// sections after the rest.
fn release(
    workspace: &Path,
    label: &str,
    exe: &Path,
    listen: SocketAddr,
    admin: SocketAddr,
    env: &str,
    more: &str,
) -> anyhow::Result<PathBuf> {
    let dir = workspace.join(format!("hello-{label}"));
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    let exe = exe.display();
    let config = format!(
        r#"[app]
name = "hello"

[inputs]
code = "."
requirements = "REQUIREMENTS.md"
tests = "'{exe}' example-hello smoke"

[runtime]
command = "'{exe}' example-hello"
env = {{ GREETING = "hello"{env} }}

[health]
interval_ms = 50
deadline_s = 10

[router]
listen = "{listen}"
admin = "{admin}"
drain_timeout_s = 10

[review]
max_rounds = 3
{more}"#
    );
    let path = dir.join("deployflow.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Requests to the app's public address, counted by who answered.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    releases: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(listen: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let releases = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, o, f, r) = (stop.clone(), ok.clone(), failed.clone(), releases.clone());
        let task = tokio::spawn(async move {
            let http = deployflow::adapters::http::client_builder()
                .no_proxy()
                .build()
                .unwrap_or_default();
            while !s.load(Ordering::Relaxed) {
                match http.get(format!("http://{listen}/")).send().await {
                    Ok(response) if response.status().is_success() => {
                        o.fetch_add(1, Ordering::Relaxed);
                        let body = response.text().await.unwrap_or_default();
                        let release = body.trim().rsplit(' ').next().unwrap_or("").to_string();
                        if let Ok(mut seen) = r.lock()
                            && seen.last() != Some(&release)
                        {
                            seen.push(release);
                        }
                    }
                    _ => {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Load {
            stop,
            ok,
            failed,
            releases,
            task,
        }
    }

    async fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let seen = self.releases.lock().map(|s| s.clone()).unwrap_or_default();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            seen,
        )
    }
}

/// The releases that answered in turn: in order, or, when a canary's
/// split had them take turns many times, the two and how it ended.
fn served_by(seen: &[String]) -> String {
    if seen.len() <= 4 {
        return seen.join(" then ");
    }
    let mut both: Vec<&str> = seen.iter().map(String::as_str).collect();
    both.sort_unstable();
    both.dedup();
    format!(
        "{} by turns ({} changes of side), then {}",
        both.join(" and "),
        seen.len() - 1,
        seen.last().map_or("", String::as_str)
    )
}

async fn serving(listen: SocketAddr) -> String {
    let http = deployflow::adapters::http::client_builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    match http.get(format!("http://{listen}/")).send().await {
        Ok(response) => response.text().await.unwrap_or_default().trim().to_string(),
        Err(e) => format!("no answer: {e}"),
    }
}

/// The releases, in the order they are deployed.
const LABELS: [&str; 7] = ["v1", "v2", "v3", "v4", "v5", "v6", "v7"];

pub fn run(global: &Global) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let exe = std::env::current_exe().context("finding deployflow's binary")?;
    let workspace = std::env::temp_dir().join(format!("deployflow-demo-{}", std::process::id()));
    let data_dir = workspace.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let [listen, admin, api] = free_addrs()?;
    let configs = [
        release(&workspace, "v1", &exe, listen, admin, "", "")?,
        release(&workspace, "v2", &exe, listen, admin, "", "")?,
        release(
            &workspace,
            "v3",
            &exe,
            listen,
            admin,
            ", HELLO_CRASH_AT_START = \"1\"",
            "",
        )?,
        release(
            &workspace,
            "v4",
            &exe,
            listen,
            admin,
            ", HELLO_FAIL_PROXIED = \"3\"",
            WATCHED,
        )?,
        release(
            &workspace,
            "v5",
            &exe,
            listen,
            admin,
            ", HELLO_DELAY_MS = \"5\"",
            COMPARED,
        )?,
        release(&workspace, "v6", &exe, listen, admin, "", CANARY)?,
        release(
            &workspace,
            "v7",
            &exe,
            listen,
            admin,
            ", HELLO_DELAY_MS = \"25\"",
            CANARY,
        )?,
    ];
    println!("deployflow demo: workspace {}", workspace.display());
    println!("app hello on http://{listen}/ (router admin {admin}, control plane {api})\n");

    // The control plane, in this process, for the demo's length.
    let (stop_serve, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve_dir = data_dir.clone();
    let server = std::thread::spawn(move || {
        super::block_on(async move {
            let options = deployflow::server::ServeOptions {
                listen: api,
                auth: deployflow::server::auth::Auth::default(),
                hosts: deployflow::net::hosts::AllowedHosts::new(api, Vec::new()),
                limits: deployflow::server::DEFAULT_LIMITS,
            };
            deployflow::server::serve(&serve_dir, options, async {
                let _ = stopped.await;
            })
            .await
        })
    });

    let outcome = super::block_on(async {
        let client = Client::attach(&format!("http://{api}")).await?;
        let mut ids = Vec::new();
        for (label, config) in LABELS.iter().zip(&configs) {
            println!("== deploy {label} ==");
            let request = match deploy::request(config, Some(label.to_string())) {
                Ok(request) => request,
                Err((_, message)) => anyhow::bail!("the demo's config is bad: {message}"),
            };
            let load = (*label != "v1").then(|| Load::start(listen));
            let id = match deploy::start(&client, &request, false, false).await? {
                Ok(id) => id,
                Err((_, message)) => anyhow::bail!("deploy {label} refused: {message}"),
            };
            let row = deploy::follow(&client, &id, &Progress::new(global.json), &mut 0).await?;
            println!(
                "-> {label} {} in {} ms",
                row["status"].as_str().unwrap_or_default(),
                row["duration_ms"]
            );
            let timing = &client.get(&format!("/api/deployments/{id}")).await?["timing"];
            println!(
                "-> deployflow's own time: {} ms (app start and health {} ms, tests {} ms, reviews {} ms, fixes {} ms, analysis {} ms, drain and stop {} ms)",
                timing["overhead_ms"],
                timing["app_start_ms"],
                timing["tests_ms"],
                timing["reviews_ms"],
                timing["fixes_ms"],
                timing["analysis_ms"],
                timing["drain_and_stop_ms"]
            );
            if let Some(load) = load {
                let (ok, failed, seen) = load.finish().await;
                println!(
                    "-> traffic during the deploy: {ok} requests answered, {failed} failed, served by {}",
                    served_by(&seen)
                );
            }
            println!("-> the app answers: {}\n", serving(listen).await);
            ids.push(id);
        }
        println!("== audit of v2 ==");
        let entries = client
            .get(&format!("/api/deployments/{}/audit", ids[1]))
            .await?;
        audit::print_entries(entries.as_array().map(Vec::as_slice).unwrap_or_default());
        println!("\n== timeline of v3 ==");
        let shown = client.get(&format!("/api/deployments/{}", ids[2])).await?;
        show::print_timeline(&shown);
        println!("\n== timeline of v7, the canary caught at 10 % ==");
        let shown = client.get(&format!("/api/deployments/{}", ids[6])).await?;
        show::print_timeline(&shown);
        for (label, id) in [("v4", &ids[3]), ("v5", &ids[4]), ("v7", &ids[6])] {
            println!("\n== analysis of {label} ==");
            let runs = client
                .get(&format!("/api/deployments/{id}/analysis"))
                .await?;
            analysis::print_runs(runs.as_array().map(Vec::as_slice).unwrap_or_default());
        }
        println!("\n== metrics ==");
        metrics::print_metrics(&client.get("/api/metrics").await?);
        let mut endings = Vec::new();
        for id in &ids[2..] {
            let shown = client.get(&format!("/api/deployments/{id}")).await?;
            endings.push(
                shown["deployment"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        Ok::<Vec<String>, anyhow::Error>(endings)
    });

    // The control plane first, so no Driver restarts what cleanup stops.
    let _ = stop_serve.send(());
    let _ = server.join();
    cleanup(&data_dir);
    let endings = outcome?;
    println!(
        "\ndemo done in {:.1} s; nothing left running. The log stays in {} (deployflow --data-dir {} history)",
        started.elapsed().as_secs_f64(),
        data_dir.display(),
        data_dir.display()
    );
    // v3, v4 and v5 were meant to roll back, v6 to be promoted as a canary
    // and v7 to roll back at its first slice; anything else means the demo
    // went wrong.
    let meant = [
        "rolled_back",
        "rolled_back",
        "rolled_back",
        "promoted",
        "rolled_back",
    ];
    Ok(if endings == meant {
        Exit::Success
    } else {
        Exit::Error
    })
}

/// Stops the demo's instances and its router.
fn cleanup(data_dir: &Path) {
    let _ = super::block_on(async {
        let backend = deployflow::adapters::backend::ProcessBackend::new(data_dir);
        use deployflow::adapters::backend::Backend;
        for slot in [
            deployflow::events::Slot::Blue,
            deployflow::events::Slot::Green,
        ] {
            let _ = backend.stop("hello", slot, false).await;
        }
        Ok(())
    });
    let lock = data_dir.join("router").join("router.lock");
    if let Some(pid) = std::fs::read_to_string(lock)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..200 {
            if nix::sys::signal::kill(pid, None).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
