//! The control plane killed with SIGKILL at random moments of many
//! deployments, and started again each time: every deployment ends as an
//! uncrashed one would, traffic never fails, the log verifies, and exactly
//! one release runs at the end.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::scenario::{Knobs, Load, Scenario, running_releases, stop_following, text};

/// How many deployments to crash (`DEPLOYFLOW_CRASH_DEPLOYMENTS`).
fn deployments() -> usize {
    std::env::var("DEPLOYFLOW_CRASH_DEPLOYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

#[test]
fn deployments_survive_the_control_plane_killed_at_random_moments() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v0", &Knobs::default());
    let out = s.deploy("v0");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let load = Load::start(s.listen);
    let mut seed: u64 = 0x5eed;
    let mut random = |below: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % below
    };
    let mut last_promoted = "v0".to_string();
    let count = deployments();
    for i in 1..=count {
        let release = format!("v{i}");
        // One in four releases never starts: it must roll back.
        let broken = i % 4 == 0;
        let knobs = if broken {
            Knobs {
                env: ", HELLO_CRASH_AT_START = \"1\"".into(),
                ..Knobs::default()
            }
        } else {
            Knobs::default()
        };
        s.release(&release, &knobs);
        let deploy = s.deploy_in_background(&release);
        // Once the deployment exists, kill the control plane a random
        // moment into it, then start it again.
        let deadline = Instant::now() + Duration::from_secs(30);
        let id = loop {
            let rows = s.json(&["history", "--limit", "1"]);
            if rows[0]["release"] == release.as_str() {
                break rows[0]["id"].as_str().expect("id").to_string();
            }
            assert!(Instant::now() < deadline, "{release} never started");
            std::thread::sleep(Duration::from_millis(10));
        };
        std::thread::sleep(Duration::from_millis(random(if broken {
            1500
        } else {
            500
        })));
        s.kill_server();
        stop_following(deploy);
        s.start_server();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            let shown = s.json(&["show", &id]);
            let status = shown["deployment"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if status != "in_progress" {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{release} did not end after the crash"
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        let expected = if broken { "rolled_back" } else { "promoted" };
        assert_eq!(status, expected, "{release} ({id}) ended {status}");
        if !broken {
            last_promoted = release.clone();
        }
        assert_eq!(
            s.serving().as_deref(),
            Some(format!("hello from {last_promoted}").as_str()),
            "after {release}"
        );
    }
    let load = load.finish();
    assert!(
        load.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        load.failures.len(),
        load.answered + load.failures.len() as u64,
        &load.failures[..load.failures.len().min(5)]
    );
    // Exactly one release runs: the live one; nothing is orphaned.
    let running = running_releases(s.dir.path());
    assert_eq!(running.len(), 1, "running: {running:?}");
    assert_eq!(
        s.json(&["status"])[0]["live"]["release"],
        last_promoted.as_str()
    );
    // Every acknowledged event is there, the chain whole.
    s.kill_server();
    let verify = s.cli(&["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    eprintln!(
        "{count} deployments crashed and recovered; {} requests answered, none failed",
        load.answered
    );
}

#[test]
fn a_router_killed_mid_deployment_comes_back_with_its_routes_and_the_deployment_carries_on() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    assert_eq!(s.deploy("v1").status.code(), Some(0));
    s.release("v2", &Knobs::gated());
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    let lock = s.data.join("router/router.lock");
    let router_pid = std::fs::read_to_string(&lock).expect("router.lock");
    let status = std::process::Command::new("kill")
        .args(["-KILL", router_pid.trim()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.serving().is_some() {
        assert!(Instant::now() < deadline, "the router did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Started again (as a process supervisor would), it serves its routes
    // from disk: blue again, before anyone tells it anything.
    let router = std::process::Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .args(["router", "--admin", &s.admin.to_string(), "--state-dir"])
        .arg(s.data.join("router"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the router");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.serving().as_deref() != Some("hello from v1") {
        assert!(Instant::now() < deadline, "the routes did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(router);
    // And the deployment carries on through it.
    let out = s.cli(&["approve", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let new_pid = std::fs::read_to_string(&lock).expect("router.lock");
    assert_ne!(new_pid.trim(), router_pid.trim(), "a new router serves");
    let routes = std::fs::read_to_string(s.data.join("router/routes.json")).expect("routes");
    assert!(routes.contains("hello"), "{routes}");
    // Killed again and left down: the next deployment's switch starts it.
    let router_pid = std::fs::read_to_string(&lock).expect("router.lock");
    let _ = std::process::Command::new("kill")
        .args(["-KILL", router_pid.trim()])
        .status();
    s.release("v3", &Knobs::default());
    let out = s.deploy("v3");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v3"));
}
