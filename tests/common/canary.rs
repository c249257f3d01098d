//! Canary configs shared by the process and docker backends' tests.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::request;
use super::scenario::{Knobs, Scenario, stop_following};
use std::process::Child;

/// A canary of `steps` (TOML), with `templates` and extra `[rollout]` lines.
pub fn canary(steps: &str, templates: &str, rollout: &str, env: &str) -> Knobs {
    Knobs {
        env: env.to_string(),
        review: format!(
            "{templates}\n[rollout]\nstrategy = \"canary\"\nsteps = [ {steps} ]\n{rollout}\n"
        ),
        ..Knobs::default()
    }
}

/// Green's errors and latency against blue's, on the real traffic the
/// router carries to each in the same window.
pub const SAME_WINDOW: &str = r#"
[analysis.errors]
interval_s = 2
count = 2
[[analysis.errors.metrics]]
name = "errors"
provider = "router"
measure = "compare_errors"
min_requests = 10

[analysis.latency]
interval_s = 2
count = 2
[[analysis.latency.metrics]]
name = "latency"
provider = "router"
measure = "compare_latency"
min_requests = 10
"#;

/// Green's weights as the log recorded them.
pub fn weights(s: &Scenario, id: &str) -> Vec<u64> {
    s.payloads(id, "weight_set")
        .iter()
        .filter_map(|p| p["percent"].as_u64())
        .collect()
}

/// The route the router holds for the app, asked of its admin API.
pub fn route(s: &Scenario) -> Value {
    let (status, _, body) = request(s.admin, "GET", &format!("/routes/{}", s.app), &[], "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("a route")
}

/// Waits until the deployment's step `index` (from 0) has started.
pub fn wait_step(s: &Scenario, id: &str, index: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s
        .payloads(id, "step_started")
        .iter()
        .any(|p| p["index"] == index)
    {
        assert!(Instant::now() < deadline, "step {index} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Which release answers a request with `header`.
pub fn answered_with(s: &Scenario, header: &str) -> String {
    let (status, _, body) = request(s.listen, "GET", "/", &[header], "");
    assert_eq!(status, 200, "{body}");
    body.trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// At 50 %: each of 40 users stays on one side over four requests, about
/// half of them on green, and the allowed user always on green.
pub fn check_keyed(s: &Scenario, header: impl Fn(&str) -> String) {
    let mut on_green = 0;
    for i in 0..40 {
        let user = header(&format!("user-{i}"));
        let first = answered_with(s, &user);
        for _ in 0..3 {
            assert_eq!(answered_with(s, &user), first, "{user} changed sides");
        }
        on_green += usize::from(first == "v2");
    }
    // Half of the users at 50 %, give or take what 40 draws give.
    assert!(
        (8..=32).contains(&on_green),
        "{on_green} of 40 users on green"
    );
    for _ in 0..5 {
        assert_eq!(
            answered_with(s, &header("staff-ana")),
            "v2",
            "an allowed user on blue"
        );
    }
}

/// Deploys v2 (already released) in the background and waits until its
/// step `index` has started in `phase`: the deployment's id and the deploy.
pub fn deploy_until_step(s: &Scenario, phase: &str, index: u64) -> (String, Child) {
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress(phase);
    wait_step(s, &id, index);
    (id, deploy)
}

/// The indices of the steps that started, in order.
pub fn started_steps(s: &Scenario, id: &str) -> Vec<u64> {
    s.payloads(id, "step_started")
        .iter()
        .filter_map(|p| p["index"].as_u64())
        .collect()
}

/// Waits until the deployment ended; what `show --json` says then.
pub fn wait_ended(s: &Scenario, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let shown = s.json(&["show", id]);
        if shown["deployment"]["status"] != "in_progress" {
            return shown;
        }
        assert!(Instant::now() < deadline, "the deployment did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// While held at a manual pause with `split`, each user's requests land
/// on one side; allowed users on green.
pub fn held_with_split(s: Scenario, split: &str) -> (Scenario, String, Child) {
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 50 }, { pause = "manual" }"#,
            "",
            &format!("split = {split}"),
            "",
        ),
    );
    let (id, deploy) = deploy_until_step(&s, "manual_gate", 1);
    (s, id, deploy)
}

/// Killed at a pause and again at an analysis step: the split holds while
/// no control plane runs, each step resumes where it was and starts once,
/// and each measurement counts once.
pub fn killed_at_a_pause_and_at_an_analysis(mut s: Scenario) {
    let smoke = r#"
[analysis.smoke]
interval_s = 1
count = 4
[[analysis.smoke.metrics]]
name = "ok"
provider = "exec"
command = "echo 1"
success = "result == 1.0"
"#;
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 40 }, { pause_s = 4 }, { analysis = "smoke" }"#,
            smoke,
            "",
            "",
        ),
    );
    let (id, deploy) = deploy_until_step(&s, "canary", 1);
    s.kill_server();
    stop_following(deploy);
    // Traffic never depends on the control plane: the split holds.
    assert_eq!(route(&s)["canary"]["percent"], 40);
    let mut sides = std::collections::BTreeSet::new();
    // New visitors are placed evenly over every 100.
    for _ in 0..100 {
        sides.insert(s.serving().unwrap_or_default());
    }
    assert_eq!(sides.len(), 2, "{sides:?}");
    s.start_server();
    wait_step(&s, &id, 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.json(&["analysis", &id]).as_array().map_or(0, Vec::len) < 2 {
        assert!(Instant::now() < deadline, "no measurement came");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.kill_server();
    assert_eq!(route(&s)["canary"]["percent"], 40);
    s.start_server();
    let shown = wait_ended(&s, &id);
    assert_eq!(shown["deployment"]["status"], "promoted", "{shown}");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let indices: Vec<u64> = s
        .json(&["analysis", &id])
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["index"].as_u64())
        .collect();
    assert_eq!(indices, [0, 1, 2, 3]);
    // Each step started once, whatever the crashes.
    let started: Vec<u64> = started_steps(&s, &id);
    assert_eq!(started, [0, 1, 2]);
    s.kill_server();
    let verify = s.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        super::scenario::text(&verify)
    );
}
