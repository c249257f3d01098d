//! The flow on the docker backend, through the binary and the machine's real
//! engine: images built `FROM scratch` around the example app, containers
//! named as the process document names them, re-adopted by label after a
//! crash, and nothing left behind. These tests never skip: without an
//! engine they fail, saying so.

mod common;

use std::time::{Duration, Instant};

use common::analysis::{LIVE_SUCCESS, compared, watched};
use common::canary::{
    SAME_WINDOW, answered_with, canary, check_keyed, deploy_until_step, held_with_split,
    killed_at_a_pause_and_at_an_analysis, route, started_steps, wait_ended, wait_step, weights,
};
use common::docker::{Container, containers, docker, require_engine};
use common::scenario::{Knobs, Load, Scenario, failing_test_runs, fix_tiers, stop_following, text};
use common::wrk::Wrk;
use serde_json::Value;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn knobs(env: &str) -> Knobs {
    Knobs {
        env: env.to_string(),
        ..Knobs::default()
    }
}

/// The app's containers as `name state release`, sorted, for assertions
/// that read like `docker ps -a`.
fn listing(s: &Scenario) -> Vec<String> {
    let mut rows: Vec<String> = containers(&s.app)
        .iter()
        .map(|c: &Container| {
            let name = c.name.replacen(&s.app, "APP", 1);
            // A retained container's name ends with its deployment's tail.
            let name = match name.rsplit_once('-') {
                Some((head, tail)) if tail.len() == 8 && head != "APP" => {
                    format!("{head}-ID")
                }
                _ => name,
            };
            format!("{name} {} {}", c.state, c.release)
        })
        .collect();
    rows.sort();
    rows
}

fn diagnosis(events: &[Value], kind: &str) -> String {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["event"][kind]["diagnosis"].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_release_is_promoted_with_no_failed_request_and_named_as_the_process_says() {
    let s = Scenario::docker().with_v1();
    assert_eq!(listing(&s), ["APP running v1"]);
    s.release("v2", &Knobs::default());
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(load.failures.is_empty(), "failed: {:?}", load.failures);
    assert_eq!(load.releases, ["v1", "v2"], "{} answered", load.answered);
    // Live under the plain name; v1 stopped and kept for rollback.
    assert_eq!(listing(&s), ["APP running v2", "APP-v1-ID exited v1"]);
    let status = s.json(&["status"]);
    assert_eq!(status[0]["live"]["release"], "v2");
    // `logs`: the live container's output, and the stopped kept one's.
    let live = s.cli(&["logs", &s.app]);
    assert!(
        text(&live).contains("hello v2 listening on"),
        "{}",
        text(&live)
    );
    let kept = s.cli(&["logs", &s.app, "--release", "v1"]);
    assert_eq!(code(&kept), Some(0), "{}", text(&kept));
    assert!(
        text(&kept).contains("hello v1 listening on"),
        "{}",
        text(&kept)
    );
}

#[test]
fn only_the_newest_retained_releases_are_kept() {
    require_engine();
    let mut s = Scenario::docker();
    s.start_server();
    let retain_one = Knobs {
        runtime: "retain = 1".into(),
        ..Knobs::default()
    };
    for release in ["v1", "v2", "v3"] {
        s.release(release, &retain_one);
        let out = s.deploy(release);
        assert_eq!(code(&out), Some(0), "{release}: {}", text(&out));
    }
    // v1's container went when v3 came; so did the image built for it.
    assert_eq!(listing(&s), ["APP running v3", "APP-v2-ID exited v2"]);
    let images = docker(&[
        "images",
        "--format",
        "{{.Tag}}",
        &format!("deployflow/{}", s.app),
    ]);
    let mut tags: Vec<&str> = images.lines().collect();
    tags.sort();
    assert_eq!(tags, ["v2", "v3"]);
}

#[test]
fn rollback_after_promotion_restores_the_kept_container_and_the_names() {
    let s = Scenario::docker().with_v1();
    s.release("v2", &Knobs::default());
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let load = Load::start(s.listen);
    let out = s.cli(&["rollback", &s.app, "--reason", "v2 misbehaves"]);
    let load = load.finish();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(load.failures.is_empty(), "failed: {:?}", load.failures);
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    // v1 runs again under the plain name, from the image it ran before; v2
    // is kept in turn.
    let rows = listing(&s);
    assert!(rows.contains(&"APP running v1".to_string()), "{rows:?}");
    assert!(
        rows.contains(&"APP-v2-ID exited v2".to_string()),
        "{rows:?}"
    );
    assert!(!rows.iter().any(|r| r.contains("-green")), "{rows:?}");
    // v1's old container, which it came back from, is no release to
    // return to: only the retained list's own are left.
    assert!(!rows.iter().any(|r| r.ends_with("exited v1")), "{rows:?}");
    let status = s.json(&["status"]);
    let retained: Vec<&str> = status[0]["retained"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["release"].as_str())
        .collect();
    assert_eq!(retained, ["v2"], "{status}");
    assert_eq!(
        rows.iter().filter(|r| r.contains("exited")).count(),
        1,
        "{rows:?}"
    );
}

#[test]
fn health_failing_twice_is_fixed_at_the_driver_tier_with_state_on_a_volume() {
    let s = Scenario::docker().with_v1();
    // The start counter lives on the host: each recreated container adds one.
    s.release(
        "v2",
        &Knobs {
            env: ", HELLO_UNHEALTHY_STARTS = \"2\", HELLO_COUNTER_FILE = \"/state/starts\"".into(),
            runtime: "volumes = [\"state:/state\"]".into(),
            ..Knobs::default()
        },
    );
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    let events = s.events(&s.last_id());
    assert_eq!(fix_tiers(&events), ["driver", "driver"]);
    let starts = std::fs::read_to_string(s.dir.path().join("state/starts")).unwrap_or_default();
    assert_eq!(starts.trim(), "3");
    assert_eq!(listing(&s), ["APP running v2", "APP-v1-ID exited v1"]);
}

#[test]
fn a_container_exiting_at_start_is_diagnosed_from_its_logs_and_blue_serves() {
    let s = Scenario::docker().with_v1();
    s.release("v2", &knobs(", HELLO_CRASH_AT_START = \"1\""));
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    assert_eq!(load.releases, ["v1"]);
    let events = s.events(&s.last_id());
    let diagnosis = diagnosis(&events, "green_unhealthy");
    assert!(diagnosis.contains("crash requested"), "{diagnosis}");
    assert!(diagnosis.contains("exit code 1"), "{diagnosis}");
    // The failed candidate is gone; blue never stopped.
    assert_eq!(listing(&s), ["APP running v1"]);
}

#[test]
fn an_image_that_does_not_build_puts_its_build_log_in_the_diagnosis() {
    let s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &Knobs {
            // No shell in a scratch image: the step fails.
            dockerfile: "RUN echo building v2 && false\n".into(),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let events = s.events(&s.last_id());
    let failures: String = events
        .iter()
        .filter(|e| e["kind"] == "green_start_failed" || e["kind"] == "green_unhealthy")
        .map(|e| e.to_string())
        .collect();
    assert!(failures.contains("the image build failed"), "{failures}");
    assert!(failures.contains("RUN echo building v2"), "{failures}");
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(listing(&s), ["APP running v1"]);
}

#[test]
fn failing_tests_roll_back_and_remove_the_candidate() {
    let s = Scenario::docker().with_v1();
    s.release("v2", &knobs(", HELLO_FAIL_TEST = \"greet\""));
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let events = s.events(&s.last_id());
    // The run and its re-run on the same container, then the code tiers:
    // no restart is spent on a failing test.
    assert_eq!(failing_test_runs(&events), 2, "the run and its re-run");
    assert_eq!(fix_tiers(&events), ["driver", "senior", "trio"]);
    assert_eq!(s.json(&["history"])[0]["status"], "rolled_back");
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(listing(&s), ["APP running v1"]);
}

/// A HEALTHCHECK that runs the release's smoke tests from inside.
const SMOKE_HEALTHCHECK: &str = "ENV DEPLOYFLOW_TARGET_URL=http://127.0.0.1:8080\n\
    HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"/deployflow-hello\", \"smoke\"]\n";

#[test]
fn a_healthcheck_in_the_image_decides_health() {
    let s = Scenario::docker().with_v1();
    // The image's HEALTHCHECK runs the smoke tests from inside; the HTTP
    // health path alone would pass (it answers 200 "degraded").
    s.release(
        "v2",
        &Knobs {
            env: ", HELLO_FAIL_TEST = \"health\"".into(),
            dockerfile: SMOKE_HEALTHCHECK.into(),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let events = s.events(&s.last_id());
    let diagnosis = diagnosis(&events, "green_unhealthy");
    assert!(
        diagnosis.contains("HEALTHCHECK reports unhealthy"),
        "{diagnosis}"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));

    // The same HEALTHCHECK on a sound release passes.
    s.release(
        "v3",
        &Knobs {
            dockerfile: SMOKE_HEALTHCHECK.into(),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v3");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v3"));
}

#[test]
fn a_killed_control_plane_re_adopts_the_container_by_label_and_creates_none_twice() {
    let mut s = Scenario::docker().with_v1();
    s.release("v2", &Knobs::gated());
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    let before: Vec<Container> = containers(&s.app)
        .into_iter()
        .filter(|c| c.deployment == id)
        .collect();
    assert_eq!(before.len(), 1, "{before:?}");
    s.kill_server();
    stop_following(deploy);
    s.start_server();
    let out = s.cli(&["approve", &id, "--reason", "looks right"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.serving().as_deref() != Some("hello from v2") {
        assert!(Instant::now() < deadline, "{}", s.serve_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let after: Vec<Container> = containers(&s.app)
        .into_iter()
        .filter(|c| c.deployment == id)
        .collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].id, before[0].id, "the container was created again");
}

/// The control plane aborted at `point`, inside a docker step, during the
/// v2 deployment; restarted, it finishes the deployment with one container
/// for it and the names right.
fn crash_inside(point: &str) {
    let mut s = Scenario::docker().with_v1();
    s.kill_server();
    s.start_server_with(&[("FAILPOINTS", &format!("{point}=return"))]);
    s.release("v2", &Knobs::default());
    let load = Load::start(s.listen);
    let deploy = s.deploy_in_background("v2");
    assert!(
        s.server_ended_within(Duration::from_secs(60)),
        "{point} was never reached"
    );
    stop_following(deploy);
    assert!(s.serve_log().contains(&format!("crash point {point}")));
    s.start_server();
    let id = s.last_id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.json(&["show", &id])["deployment"]["status"] == "in_progress" {
        assert!(Instant::now() < deadline, "{point}: {}", s.serve_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let load = load.finish();
    assert!(load.failures.is_empty(), "{point}: {:?}", load.failures);
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "promoted");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let created = containers(&s.app)
        .into_iter()
        .filter(|c| c.deployment == id)
        .count();
    assert_eq!(created, 1, "{point}: {:?}", listing(&s));
    assert_eq!(
        listing(&s),
        ["APP running v2", "APP-v1-ID exited v1"],
        "{point}"
    );
}

#[test]
fn a_crash_after_the_container_started_adopts_it_on_resume() {
    crash_inside("docker_container_started");
}

#[test]
fn a_crash_halfway_through_the_renames_finishes_them_on_resume() {
    crash_inside("docker_old_live_renamed");
}

#[test]
fn an_unreachable_engine_is_named_and_the_deployment_fails_with_blue_untouched() {
    let mut s = Scenario::docker().with_v1();
    s.kill_server();
    s.start_server_with(&[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    s.release("v2", &Knobs::default());
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("DOCKER_HOST=unix:///nonexistent/docker.sock"),
        "{said}"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(listing(&s), ["APP running v1"]);
}

#[test]
fn a_secret_reaches_the_container_and_never_the_log() {
    require_engine();
    let mut s = Scenario::docker();
    let secret = "s3cr3t-docker-value-42";
    s.start_server_with(&[("API_TOKEN", secret)]);
    s.release(
        "v1",
        &Knobs {
            env: ", HELLO_REQUIRE_SECRET = \"API_TOKEN\"".into(),
            runtime: "secrets = [\"API_TOKEN\"]".into(),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v1");
    assert_eq!(code(&out), Some(0), "{}\n{}", text(&out), s.serve_log());
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let everything = serde_json::to_string(&s.events(&s.last_id())).unwrap();
    assert!(!everything.contains(secret));
    assert!(!s.serve_log().contains(secret));
    assert!(!docker(&["logs", &s.app]).contains(secret));
}

#[test]
fn an_image_not_on_the_engine_is_rejected_at_prepare_and_blue_serves() {
    let s = Scenario::docker().with_v1();
    s.release("v2", &Knobs::default());
    let config = std::fs::read_to_string(&s.config).unwrap();
    let config = config.replace(
        "build = { context = \"code-v2\" }",
        "image = \"deployflow-test-no-such-image:404\"",
    );
    assert!(config.contains("no-such-image"));
    std::fs::write(&s.config, config).unwrap();
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not on the Docker engine"),
        "{}",
        text(&out)
    );
    assert_eq!(s.json(&["history"])[0]["status"], "rejected");
    // Nothing was started: no attempt, no rollback.
    let events = s.events(&s.last_id());
    assert!(
        !events.iter().any(|e| e["kind"] == "green_deploy_intended"),
        "{events:?}"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(listing(&s), ["APP running v1"]);
}

#[test]
fn a_release_failing_real_traffic_after_the_switch_goes_back_to_the_kept_container() {
    let s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &watched(LIVE_SUCCESS, "\"live\"", 30, ", HELLO_FAIL_PROXIED = \"3\""),
    );
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(3), "{}\n{}", text(&out), s.serve_log());
    // Only v2's own answers failed; the switches there and back dropped
    // nothing, and v1 answered throughout from the container kept running.
    assert!(
        load.failures.iter().all(|f| f == "500: hello broke"),
        "{:?}",
        load.failures
    );
    assert_eq!(
        load.releases,
        ["v1", "v2", "v1"],
        "{} answered",
        load.answered
    );
    let id = s.last_id();
    let events = s.events(&id);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    let first_switch = kinds.iter().position(|k| *k == "traffic_switched");
    assert!(
        !kinds[first_switch.unwrap_or(0)..].contains(&"green_started"),
        "blue was kept, not started again: {kinds:?}"
    );
    assert_eq!(
        s.payloads(&id, "rollback_started")[0]["after_promotion"],
        true
    );
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["verdict"], "failed", "{measured}");
    // v1 serves under the plain name; v2 is not left running.
    let rows = listing(&s);
    assert!(rows.contains(&"APP running v1".to_string()), "{rows:?}");
    assert!(!rows.iter().any(|r| r.ends_with("running v2")), "{rows:?}");
}

#[test]
fn a_slower_container_is_stopped_before_the_switch_by_the_comparison_under_load() {
    let s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &Knobs {
            env: ", HELLO_DELAY_MS = \"30\"".into(),
            review: compared(40),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}\n{}", text(&out), s.serve_log());
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let measured = s.json(&["analysis", &s.last_id()]);
    assert_eq!(measured[0]["metric"], "latency");
    assert_eq!(measured[0]["verdict"], "failed", "{measured}");
    assert!(
        measured[0]["value"]["ratio_p50"].as_f64().unwrap_or(0.0) > 5.0,
        "{measured}"
    );
    assert_eq!(measured[1]["verdict"], "successful", "{measured}");
    let rows = listing(&s);
    assert!(rows.contains(&"APP running v1".to_string()), "{rows:?}");
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("v2") && r.contains("running")),
        "{rows:?}"
    );
}

#[test]
fn a_canary_of_containers_takes_every_step_kind_under_load_and_no_request_fails() {
    let s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 30 }, { analysis = "errors" }, { pause_s = 1 }, { set_weight = 70 }, { pause = "manual" }"#,
            SAME_WINDOW,
            "",
            "",
        ),
    );
    let load = Wrk::start(s.listen);
    let (id, deploy) = deploy_until_step(&s, "manual_gate", 4);
    assert_eq!(route(&s)["canary"]["percent"], 70);
    let approve = s.cli(&["approve", &id]);
    assert_eq!(code(&approve), Some(0), "{}", text(&approve));
    let out = deploy.wait_with_output().expect("deploy ends");
    let load = load.finish();
    assert_eq!(code(&out), Some(0), "{}\n{}", text(&out), s.serve_log());
    assert!(load.failed_other_than("").is_empty(), "{load:?}");
    assert!(
        load.answered_by("v1") > 0 && load.answered_by("v2") > 0,
        "{load:?}"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    assert_eq!(weights(&s, &id), [30, 70]);
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["phase"], "canary", "{measured}");
    assert!(measured[0]["baseline"].is_object(), "{measured}");
    assert!(route(&s)["canary"].is_null(), "{}", route(&s));
    let rows = listing(&s);
    assert!(rows.contains(&"APP running v2".to_string()), "{rows:?}");
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("v1") && r.contains("running")),
        "{rows:?}"
    );
}

#[test]
fn a_container_failing_real_users_is_caught_at_its_first_slice_and_stopped() {
    let s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 50 }, { analysis = "errors" }, { set_weight = 100 }"#,
            SAME_WINDOW,
            "",
            ", HELLO_FAIL_PROXIED = \"3\"",
        ),
    );
    let load = Wrk::start(s.listen);
    let out = s.deploy("v2");
    let load = load.finish();
    assert_eq!(code(&out), Some(3), "{}\n{}", text(&out), s.serve_log());
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let id = s.last_id();
    assert_eq!(weights(&s, &id), [50, 0]);
    assert!(route(&s)["canary"].is_null(), "{}", route(&s));
    assert!(
        load.failed_other_than("500: hello broke").is_empty(),
        "{load:?}"
    );
    let reason = s.payloads(&id, "rollback_started")[0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.ends_with("(at step 2 of 3, analysis `errors`; green at 50 %)"),
        "{reason}"
    );
    let rows = listing(&s);
    assert!(rows.contains(&"APP running v1".to_string()), "{rows:?}");
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("v2") && r.contains("running")),
        "{rows:?}"
    );
}

#[test]
fn a_slower_container_is_caught_at_ten_percent_by_the_same_window_comparison() {
    let s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 10 }, { analysis = "latency" }, { set_weight = 100 }"#,
            SAME_WINDOW,
            "",
            ", HELLO_DELAY_MS = \"25\"",
        ),
    );
    let load = Wrk::start(s.listen);
    let out = s.deploy("v2");
    let load = load.finish();
    assert_eq!(code(&out), Some(3), "{}\n{}", text(&out), s.serve_log());
    assert!(load.failed_other_than("").is_empty(), "{load:?}");
    let id = s.last_id();
    assert_eq!(weights(&s, &id), [10, 0]);
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["verdict"], "failed", "{measured}");
    assert!(
        measured[0]["value"]["ratio_p50"].as_f64().unwrap_or(0.0) > 3.0,
        "{measured}"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn a_header_split_of_containers_keeps_users_on_their_side_and_an_abort_stops_green() {
    let (s, id, deploy) = held_with_split(
        Scenario::docker().with_v1(),
        r#"{ by = "header", key = "x-user", allow = ["staff-ana"] }"#,
    );
    check_keyed(&s, |user| format!("x-user: {user}"));
    let abort = s.cli(&["abort", &id, "--reason", "enough"]);
    assert_eq!(code(&abort), Some(0), "{}", text(&abort));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}\n{}", text(&out), s.serve_log());
    assert_eq!(answered_with(&s, "x-user: staff-ana"), "v1");
    no_v2_running(&s);
}

#[test]
fn a_cookie_split_of_containers_keeps_users_on_their_side_and_a_rejected_pause_stops_green() {
    let (s, id, deploy) = held_with_split(
        Scenario::docker().with_v1(),
        r#"{ by = "cookie", key = "uid", allow = ["staff-ana"] }"#,
    );
    check_keyed(&s, |user| format!("Cookie: theme=dark; uid={user}"));
    let reject = s.cli(&["reject", &id, "--reason", "wrong copy"]);
    assert_eq!(code(&reject), Some(0), "{}", text(&reject));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}\n{}", text(&out), s.serve_log());
    assert_eq!(answered_with(&s, "Cookie: uid=staff-ana"), "v1");
    assert_eq!(weights(&s, &id), [50, 0]);
    let reason = s.last_reason();
    assert!(
        reason.contains("wrong copy")
            && reason.contains("at step 2 of 2, manual pause; green at 50 %"),
        "{reason}"
    );
    no_v2_running(&s);
}

/// No container of v2 runs: green was stopped.
fn no_v2_running(s: &Scenario) {
    let rows = listing(s);
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("v2") && r.contains("running")),
        "{rows:?}"
    );
}

#[test]
fn a_control_plane_killed_at_a_container_canary_s_pause_and_analysis_resumes_each_there() {
    killed_at_a_pause_and_at_an_analysis(Scenario::docker().with_v1());
}

#[test]
fn a_control_plane_killed_at_a_container_canary_s_pause_resumes_it_and_approve_full_ends_it() {
    let mut s = Scenario::docker().with_v1();
    s.release(
        "v2",
        &canary(
            r#"{ set_weight = 40 }, { pause_s = 3 }, { pause = "manual" }, { pause_s = 600 }"#,
            "",
            "",
            "",
        ),
    );
    let (id, deploy) = deploy_until_step(&s, "canary", 1);
    s.kill_server();
    stop_following(deploy);
    // The split holds while no control plane runs.
    assert_eq!(route(&s)["canary"]["percent"], 40);
    s.start_server();
    wait_step(&s, &id, 2);
    let full = s.cli(&["approve", &id, "--full", "--reason", "hotfix"]);
    assert_eq!(code(&full), Some(0), "{}", text(&full));
    assert_eq!(wait_ended(&s, &id)["deployment"]["status"], "promoted");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let started: Vec<u64> = started_steps(&s, &id);
    assert_eq!(started, [0, 1, 2]);
}
