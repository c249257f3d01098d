//! Canary deployments through the binary (process backend, built-in
//! members, built-in router): traffic moved to green in steps under load,
//! judged against blue on the same traffic, held at a manual pause, split
//! by a key the app sets, and resumed after a crash with the router's
//! weight untouched meanwhile.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::canary::{
    SAME_WINDOW, answered_with, canary, check_keyed, deploy_until_step, held_with_split,
    killed_at_a_pause_and_at_an_analysis, route, started_steps, weights,
};
use common::http::request;
use common::scenario::{Scenario, running_releases, text};
use common::wrk::Wrk;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn a_canary_takes_every_step_kind_under_load_and_no_request_fails() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 30 }, { analysis = "errors" }, { pause_s = 1 }, { set_weight = 60 }, { pause = "manual" }"#,
            SAME_WINDOW,
            "",
            "",
        ),
    );
    let load = Wrk::start(s.listen);
    let (id, deploy) = deploy_until_step(&s, "manual_gate", 4);
    // Held at the manual pause: green takes 60 %, and people see where.
    let status = s.json(&["status"]);
    assert_eq!(status[0]["weight"], 60, "{status}");
    assert_eq!(status[0]["live"]["release"], "v1");
    let shown = text(&s.cli(&["show", &id]));
    assert!(
        shown.contains("canary: green takes 60 % of the traffic"),
        "{shown}"
    );
    assert!(shown.contains("done 4. set_weight 60 %"), "{shown}");
    assert!(shown.contains("now  5. manual pause"), "{shown}");
    assert_eq!(route(&s)["canary"]["percent"], 60);
    // The dashboard's page: the steps, the one it is at, the weight drawn,
    // and approve --full beside the gate's own buttons.
    let (status, _, page) = request(s.api, "GET", &format!("/deployments/{id}/live"), &[], "");
    assert_eq!(status, 200);
    assert!(page.contains("<h2>Canary</h2>"), "{page}");
    assert!(
        page.contains("Green takes <b>60 %</b> of the traffic."),
        "{page}"
    );
    assert!(page.contains("green takes 30 % of the traffic"), "{page}");
    let section = &page[page.find("<h2>Canary</h2>").unwrap_or(0)..];
    assert!(section.contains("<svg"), "no weight chart: {page}");
    assert!(page.contains("data-full=\"1\""), "{page}");
    let approve = s.cli(&["approve", &id]);
    assert_eq!(code(&approve), Some(0), "{}", text(&approve));
    let out = deploy.wait_with_output().expect("deploy ends");
    let load = load.finish();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    // Not one request failed, on either side, and both sides answered.
    assert!(load.failed_other_than("").is_empty(), "{load:?}");
    assert!(load.total() > 500, "{load:?}");
    assert!(
        load.answered_by("v1") > 0 && load.answered_by("v2") > 0,
        "{load:?}"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    assert_eq!(weights(&s, &id), [30, 60]);
    let events = s.kinds(&id);
    let count = |kind: &str| events.iter().filter(|k| *k == kind).count();
    assert_eq!(count("step_started"), 5, "{events:?}");
    assert_eq!(count("step_completed"), 5, "{events:?}");
    // Blue stopped only after the whole switch and its drain.
    let at = |kind: &str| events.iter().position(|k| k == kind).unwrap();
    assert!(at("traffic_switched") < at("drained") && at("drained") < at("blue_stopped"));
    assert!(at("step_completed") < at("traffic_switched"));
    // The canary's analysis compared green with blue in the same window.
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["phase"], "canary", "{measured}");
    assert_eq!(measured[0]["verdict"], "successful", "{measured}");
    assert!(measured[0]["baseline"].is_object(), "{measured}");
    let history = s.json(&["history"]);
    assert_eq!(history[0]["strategy"], "canary");
    assert_eq!(history[0]["status"], "promoted");
    assert_eq!(history[1]["strategy"], "bluegreen");
    let report = text(&s.cli(&["report", &id]));
    assert!(report.contains("## Canary"), "{report}");
    assert!(report.contains("| 5 | manual pause |"), "{report}");
    assert!(report.contains("approved by"), "{report}");
}

/// A release whose regression only real traffic shows, at 50 % for its
/// first analysis.
fn caught_at_the_first_analysis(env: &str, template: &str) {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &canary(
            &format!(
                r#"{{ set_weight = 50 }}, {{ analysis = "{template}" }}, {{ set_weight = 100 }}"#
            ),
            SAME_WINDOW,
            "",
            env,
        ),
    );
    let load = Wrk::start(s.listen);
    let out = s.deploy("v2");
    let load = load.finish();
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let id = s.last_id();
    // At 50 % and no further; then every request back on blue, at once.
    assert_eq!(weights(&s, &id), [50, 0]);
    assert!(route(&s)["canary"].is_null(), "{}", route(&s));
    let events = s.kinds(&id);
    let at = |kind: &str| events.iter().rposition(|k| k == kind).unwrap();
    assert!(at("weight_set") < at("green_stopped"), "{events:?}");
    assert!(!events.iter().any(|k| k == "traffic_switched"));
    let rollback = s.payloads(&id, "rollback_started");
    let reason = rollback[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(&format!("analysis `{template}` failed"))
            && reason.ends_with(&format!(
                "(at step 2 of 3, analysis `{template}`; green at 50 %)"
            )),
        "{reason}"
    );
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["verdict"], "failed", "{measured}");
    // Only green's own answers failed: none on blue's side.
    assert!(
        load.failed_other_than("500: hello broke").is_empty(),
        "{load:?}"
    );
    assert_eq!(s.json(&["history"])[0]["status"], "rolled_back");
    assert!(
        running_releases(s.dir.path())
            .iter()
            .all(|r| !r.contains("code-v2"))
    );
}

#[test]
fn an_error_regression_is_caught_at_the_first_analysis_and_blue_takes_everything_back() {
    caught_at_the_first_analysis(", HELLO_FAIL_PROXIED = \"3\"", "errors");
}

#[test]
fn a_latency_regression_is_caught_at_the_first_analysis_by_the_same_window_comparison() {
    caught_at_the_first_analysis(", HELLO_DELAY_MS = \"25\"", "latency");
}

#[test]
fn a_manual_pause_rejected_rolls_back_and_approve_full_skips_the_rest() {
    let s = Scenario::new().with_v1();
    let steps =
        r#"{ set_weight = 20 }, { pause = "manual" }, { set_weight = 50 }, { pause_s = 600 }"#;
    s.release("v2", &canary(steps, "", "", ""));
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    let reject = s.cli(&["reject", &id, "--reason", "wrong copy"]);
    assert_eq!(code(&reject), Some(0), "{}", text(&reject));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(weights(&s, &id), [20, 0]);
    let reason = s.last_reason();
    assert!(
        reason.contains("wrong copy")
            && reason.contains("at step 2 of 4, manual pause; green at 20 %"),
        "{reason}"
    );

    s.release("v3", &canary(steps, "", "", ""));
    let started = Instant::now();
    let deploy = s.deploy_in_background("v3");
    let id = s.wait_in_progress("manual_gate");
    let full = s.cli(&["approve", &id, "--full", "--reason", "hotfix"]);
    assert_eq!(code(&full), Some(0), "{}", text(&full));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the 600 s pause was waited"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v3"));
    let started: Vec<u64> = started_steps(&s, &id);
    assert_eq!(started, [0, 1], "the steps after --full were skipped");
    let approved = s.payloads(&id, "manually_approved");
    assert_eq!(approved[0]["full"], true, "{approved:?}");
}

#[test]
fn a_header_split_keeps_each_user_on_one_side_and_an_abort_sends_everyone_back() {
    let (mut s, id, deploy) = held_with_split(
        Scenario::new().with_v1(),
        r#"{ by = "header", key = "x-user", allow = ["staff-ana"] }"#,
    );
    check_keyed(&s, |user| format!("x-user: {user}"));
    let abort = s.cli(&["abort", &id, "--reason", "enough"]);
    assert_eq!(code(&abort), Some(0), "{}", text(&abort));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    // Everyone back on blue, the allowed user too, and green gone.
    assert_eq!(answered_with(&s, "x-user: staff-ana"), "v1");
    assert_eq!(s.json(&["history"])[0]["status"], "rolled_back");
    let reason = s.last_reason();
    assert!(
        reason.contains("aborted by") && reason.contains("at step 2 of 2"),
        "{reason}"
    );
    assert!(
        running_releases(s.dir.path())
            .iter()
            .all(|r| !r.contains("code-v2"))
    );
    s.kill_server();
    assert_eq!(code(&s.cli(&["verify"])), Some(0));
}

#[test]
fn a_cookie_split_keeps_each_user_on_one_side() {
    let (s, id, deploy) = held_with_split(
        Scenario::new().with_v1(),
        r#"{ by = "cookie", key = "uid", allow = ["staff-ana"] }"#,
    );
    check_keyed(&s, |user| format!("Cookie: theme=dark; uid={user}"));
    let approve = s.cli(&["approve", &id]);
    assert_eq!(code(&approve), Some(0), "{}", text(&approve));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(answered_with(&s, "Cookie: uid=user-1"), "v2");
}

#[test]
fn a_control_plane_killed_at_a_pause_and_at_an_analysis_resumes_there_with_the_weight_unchanged() {
    killed_at_a_pause_and_at_an_analysis(Scenario::new().with_v1());
}

#[test]
fn a_background_analysis_watches_through_a_long_pause_and_leaves_the_canary_when_it_fails() {
    let s = Scenario::new().with_v1();
    let watch = r#"
[analysis.watch]
interval_s = 1
count = 0
[[analysis.watch.metrics]]
name = "success"
provider = "router"
measure = "success_rate"
success = "result >= 0.95"
min_requests = 5
"#;
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 50 }, { pause_s = 600 }, { set_weight = 100 }"#,
            watch,
            r#"background_analysis = { name = "watch", starting_step = 1 }"#,
            ", HELLO_FAIL_PROXIED = \"3\"",
        ),
    );
    let started = Instant::now();
    let load = Wrk::start(s.listen);
    let out = s.deploy("v2");
    let load = load.finish();
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    // Caught within the pause, not after it.
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let id = s.last_id();
    assert_eq!(weights(&s, &id), [50, 0]);
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["phase"], "background", "{measured}");
    assert_eq!(measured[0]["verdict"], "failed", "{measured}");
    let reason = s.payloads(&id, "rollback_started")[0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with("background analysis `watch` failed")
            && reason.ends_with("(at step 2 of 3, pause 600 s; green at 50 %)"),
        "{reason}"
    );
    assert!(
        load.failed_other_than("500: hello broke").is_empty(),
        "{load:?}"
    );
}

/// Green killed while it takes half the traffic at `pause` (the step,
/// in TOML): the canary ends with every request back on blue.
fn green_dies_during(pause: &str, phase: &str, described: &str) {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &canary(
            &format!("{{ set_weight = 50 }}, {pause}, {{ set_weight = 100 }}"),
            "",
            "",
            "",
        ),
    );
    let (id, deploy) = deploy_until_step(&s, phase, 1);
    let instance = s.payloads(&id, "green_started")[0]["instance"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pid: i32 = instance.trim_start_matches("pid:").parse().expect("a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill green");
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(weights(&s, &id), [50, 0]);
    for _ in 0..20 {
        assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    }
    let reason = s.last_reason();
    assert!(
        reason.contains("green failed during the canary: green is not running")
            && reason.contains(&format!("(at step 2 of 3, {described}; green at 50 %)")),
        "{reason}"
    );
}

#[test]
fn a_green_that_dies_during_a_pause_ends_the_canary_with_everyone_back_on_blue() {
    green_dies_during("{ pause_s = 600 }", "canary", "pause 600 s");
}

/// Nobody has to notice it: green is watched while a person decides.
#[test]
fn a_green_that_dies_while_a_person_decides_ends_the_canary_with_everyone_back_on_blue() {
    green_dies_during(r#"{ pause = "manual" }"#, "manual_gate", "manual pause");
}
