//! The deployment flow end to end through the binary, one test per branch
//! (process backend, built-in members, built-in router). In each, requests
//! to the router show which release serves, and none fails during a switch.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use common::scenario::{
    Knobs, Load, Scenario, failing_test_runs, fix_tiers, plant_private_key, stop_following, text,
};
use serde_json::Value;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn knobs(env: &str) -> Knobs {
    Knobs {
        env: env.to_string(),
        ..Knobs::default()
    }
}

#[test]
fn a_healthy_release_is_promoted_and_no_request_fails_during_the_switch() {
    let s = Scenario::new().with_v1();
    s.release("v2", &Knobs::default());
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(
        load.failures.is_empty(),
        "failed requests: {:?}",
        load.failures
    );
    assert_eq!(load.releases, ["v1", "v2"], "{} answered", load.answered);
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));

    let id = s.last_id();
    let events = s.kinds(&id);
    let at = |kind: &str| events.iter().position(|k| k == kind).expect(kind);
    assert!(at("traffic_switched") < at("drained") && at("drained") < at("blue_stopped"));
    let status = s.json(&["status"]);
    assert_eq!(status[0]["live"]["release"], "v2");
    assert_eq!(status[0]["retained"][0]["release"], "v1");
    let history = s.json(&["history"]);
    assert_eq!(history[0]["status"], "promoted");
    assert_eq!(history[1]["status"], "promoted");
    // The report is in the code directory.
    let report = s.dir.path().join("code-v2/docs/deployments");
    assert!(std::fs::read_dir(report).map(|d| d.count()).unwrap_or(0) == 1);
}

#[test]
fn health_failing_twice_is_fixed_at_the_driver_tier() {
    let s = Scenario::new().with_v1();
    let counter = s.dir.path().join("starts");
    s.release(
        "v2",
        &knobs(&format!(
            ", HELLO_UNHEALTHY_STARTS = \"2\", HELLO_COUNTER_FILE = \"{}\"",
            counter.display()
        )),
    );
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    let events = s.events(&s.last_id());
    assert_eq!(fix_tiers(&events), ["driver", "driver"]);
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
}

#[test]
fn a_release_that_crashes_the_same_way_twice_goes_to_the_code_tiers_and_rolls_back() {
    let s = Scenario::new().with_v1();
    s.release("v2", &knobs(", HELLO_CRASH_AT_START = \"1\""));
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    // Blue served throughout.
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    assert_eq!(load.releases, ["v1"]);
    let events = s.events(&s.last_id());
    // One restart to see whether it crashes the same way; it does, so the
    // Driver tier's other restarts are not spent.
    assert_eq!(fix_tiers(&events), ["driver", "senior", "trio"]);
    let escalated = s.payloads(&s.last_id(), "escalated");
    assert!(
        escalated[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with(
                "it crashed the same way twice in a row (the process exited with status 1"
            ),
        "{escalated:?}"
    );
    let diagnosis = events
        .iter()
        .find(|e| e["kind"] == "green_unhealthy")
        .map(|e| e["event"]["green_unhealthy"]["diagnosis"].to_string())
        .unwrap_or_default();
    assert!(diagnosis.contains("crash requested"), "{diagnosis}");
    assert!(!kinds(&events).contains(&"traffic_switched".to_string()));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn failing_tests_go_round_the_fix_loop_then_roll_back() {
    let s = Scenario::new().with_v1();
    s.release("v2", &knobs(", HELLO_FAIL_TEST = \"greet\""));
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let events = s.events(&s.last_id());
    // A failed run is run once more (a flaky test would pass), then the
    // code-changing tiers take it; no restart is spent on it.
    assert_eq!(failing_test_runs(&events), 2, "the run and its re-run");
    assert_eq!(fix_tiers(&events), ["driver", "senior", "trio"]);
    let id = s.last_id();
    let rerun = &s.payloads(&id, "fix_attempted")[0];
    assert!(
        rerun["action"]
            .as_str()
            .unwrap_or_default()
            .starts_with("re-run"),
        "{rerun}"
    );
    assert_eq!(s.payloads(&id, "green_started").len(), 1, "green restarted");
    assert!(
        s.payloads(&id, "escalated")[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("failed again on a re-run"),
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn a_flaky_test_passes_on_its_re_run_and_the_release_is_promoted() {
    let s = Scenario::new().with_v1();
    s.release("v2", &knobs(", HELLO_FLAKY_GREET = \"1\""));
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let id = s.last_id();
    // Both runs are on record: the failure, then the pass on the same green.
    let runs: Vec<u64> = s
        .payloads(&id, "test_run_completed")
        .iter()
        .filter_map(|r| r["failed"].as_u64())
        .collect();
    assert_eq!(runs, [1, 0]);
    assert_eq!(fix_tiers(&s.events(&id)), ["driver"]);
    assert_eq!(s.payloads(&id, "green_started").len(), 1, "green restarted");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
}

#[test]
fn a_dependency_not_up_yet_gets_back_off_and_no_restart_in_a_hurry() {
    let s = Scenario::new().with_v1();
    // The service the release needs comes up a few seconds after it starts.
    let needed = common::scenario::quiet_addr();
    s.release("v2", &knobs(&format!(", HELLO_NEEDS = \"{needed}\"")));
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("fix");
    let _service = std::net::TcpListener::bind(needed).expect("bind the service");
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let fixes = s.payloads(&id, "fix_attempted");
    assert!(!fixes.is_empty());
    for fix in &fixes {
        let action = fix["action"].as_str().unwrap_or_default();
        assert!(
            action.starts_with("back-off") && action.contains("could not reach a service"),
            "{action}"
        );
    }
    let diagnosis = s.payloads(&id, "green_unhealthy")[0]["diagnosis"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        diagnosis.starts_with(&format!(
            "the process exited with status 1: hello: cannot reach the service at {needed}"
        )),
        "{diagnosis}"
    );
}

#[test]
fn a_requirement_without_a_test_asks_for_fixes() {
    let s = Scenario::new().with_v1();
    let code_dir = s.release("v2", &Knobs::default());
    let requirements = code_dir.join("REQUIREMENTS.md");
    let mut text_ = std::fs::read_to_string(&requirements).expect("requirements");
    text_.push_str("\n- **REQ-9** The app reports its uptime at `/uptime`.\n");
    std::fs::write(&requirements, text_).expect("write requirements");
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let audit = s.json(&["audit", &s.last_id()]);
    let entries = audit.as_array().expect("audit entries");
    let requirements_verdict = entries
        .iter()
        .find(|e| e["member"] == "requirements" && e["role"] == "trio")
        .expect("the requirements member's verdict");
    assert_eq!(requirements_verdict["verdict"], "fixes_needed");
    assert!(
        requirements_verdict["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["requirement"] == "REQ-9")
    );
    assert!(entries.iter().any(|e| e["decision"] == "fixes_needed"));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn a_hard_coded_private_key_returns_the_release_to_development() {
    let s = Scenario::new().with_v1();
    let code_dir = s.release("v2", &Knobs::default());
    plant_private_key(&code_dir);
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(4), "{}", text(&out));
    let audit = s.json(&["audit", &s.last_id()]);
    let hygiene = audit
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["member"] == "hygiene" && e["role"] == "trio")
        .cloned()
        .expect("hygiene's verdict");
    assert_eq!(hygiene["verdict"], "major_flaw");
    assert!(
        !hygiene.to_string().contains("MIIEowIBAAKCAQEA"),
        "the key leaked: {hygiene}"
    );
    assert_eq!(s.json(&["history"])[0]["status"], "returned");
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn the_manual_gate_approved_promotes() {
    let s = Scenario::new().with_v1();
    s.release("v2", &Knobs::gated());
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let out = s.cli(&["approve", &id, "--reason", "checked by hand"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let audit = s.json(&["audit", &id]);
    assert!(
        audit
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["role"] == "manual" && e["verdict"] == "approve")
    );
}

#[test]
fn the_manual_gate_rejected_rolls_back() {
    let s = Scenario::new().with_v1();
    s.release("v2", &Knobs::gated());
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    let out = s.cli(&["reject", &id, "--reason", "not this week"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn rollback_after_promotion_returns_to_the_retained_release() {
    let s = Scenario::new().with_v1();
    s.release("v2", &Knobs::default());
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let load = Load::start(s.listen);
    let out = s.cli(&[
        "rollback",
        "hello",
        "--reason",
        "error rate after the switch",
    ]);
    let load = load.finish();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    assert_eq!(load.releases, ["v2", "v1"]);
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(s.json(&["status"])[0]["live"]["release"], "v1");
    assert_eq!(s.json(&["history"])[0]["status"], "rolled_back");
}

#[test]
fn a_second_deploy_of_the_same_app_is_refused_with_exit_6() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::gated());
    let first = s.deploy_in_background("v1");
    let id = s.wait_in_progress("manual_gate");
    let out = s.deploy("v1-again");
    assert_eq!(code(&out), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&id),
        "{}",
        text(&out)
    );
    let out = s.cli(&["abort", &id, "--reason", "test over"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = first.wait_with_output().expect("first deploy ends");
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert_eq!(s.json(&["history"])[0]["status"], "aborted");
}

#[test]
fn missing_inputs_are_rejected_with_exit_2_and_nothing_starts() {
    let mut s = Scenario::new();
    s.start_server();
    let code_dir = s.release("v1", &Knobs::default());
    std::fs::remove_file(code_dir.join("REQUIREMENTS.md")).expect("remove");
    let out = s.deploy("v1");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("requirements"), "{all}");
    assert!(
        !s.data.join("instances").exists(),
        "an instance was started"
    );
    assert_eq!(s.json(&["history"])[0]["status"], "rejected");
}

#[test]
fn a_missing_secret_is_named_and_a_present_one_never_reaches_the_log() {
    let mut s = Scenario::new();
    s.start_server();
    let runtime = "secrets = [\"HELLO_TOKEN\"]".to_string();
    s.release(
        "v1",
        &Knobs {
            env: ", HELLO_REQUIRE_SECRET = \"HELLO_TOKEN\"".into(),
            runtime: runtime.clone(),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v1");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(text(&out).contains("HELLO_TOKEN"), "{}", text(&out));

    let secrets = s.dir.path().join(".deployflow/secrets");
    std::fs::create_dir_all(secrets.parent().expect("dir")).expect("mkdir");
    std::fs::write(&secrets, "HELLO_TOKEN=tok-5ecret-value-42\n").expect("write secrets");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = s.deploy("v1");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    for row in s.json(&["history"]).as_array().expect("rows") {
        let id = row["id"].as_str().expect("id");
        let shown = s.json(&["show", id]).to_string();
        assert!(
            !shown.contains("tok-5ecret-value-42"),
            "the secret is in the log"
        );
    }
    assert!(!s.serve_log().contains("tok-5ecret-value-42"));
}

#[test]
fn a_malformed_config_is_rejected_with_its_key_line_and_column() {
    let s = Scenario::new();
    s.release("v1", &Knobs::default());
    let config = std::fs::read_to_string(&s.config).expect("config");
    let bad = config.replace("max_rounds = 2", "max_rounds = 2\nquorum = \"3/4\"");
    std::fs::write(&s.config, &bad).expect("write");
    let line = bad
        .lines()
        .position(|l| l.starts_with("quorum"))
        .expect("line")
        + 1;
    let out = s.deploy("v1");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("review.quorum"), "{stderr}");
    assert!(stderr.contains(&format!(":{line}:10:")), "{stderr}");
    assert!(!s.data.exists(), "a rejected config must change nothing");
}

#[test]
fn unrunnable_tests_and_a_missing_code_directory_each_get_their_own_message() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    let config = std::fs::read_to_string(&s.config).expect("config");
    let broken = config
        .replace("code = \"code-v1\"", "code = \"no-such-dir\"")
        .replace(
            &format!("tests = \"'{}' smoke\"", common::scenario::HELLO),
            "tests = \"./no-such-test.sh\"",
        );
    std::fs::write(&s.config, broken).expect("write");
    let out = s.deploy("v1");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("code directory"), "{all}");
    assert!(all.contains("no-such-test.sh"), "{all}");
}

#[test]
fn a_second_deploy_with_wait_runs_once_the_first_ends() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::gated());
    let first = s.deploy_in_background("v1");
    let first_id = s.wait_in_progress("manual_gate");
    let second = s.deploy_with_wait_in_background("v1b");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Still one deployment of the app: the second waits its turn.
    assert_eq!(s.json(&["history"]).as_array().map(Vec::len), Some(1));
    let out = s.cli(&["abort", &first_id, "--reason", "make way"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(
        code(&first.wait_with_output().expect("first ends")),
        Some(1)
    );
    let second_id = s.wait_in_progress("manual_gate");
    assert_ne!(second_id, first_id);
    let out = s.cli(&["approve", &second_id]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = second.wait_with_output().expect("second ends");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1b"));
}

#[test]
fn a_second_rollback_goes_one_more_release_back() {
    let s = Scenario::new().with_v1();
    for release in ["v2", "v3"] {
        s.release(release, &Knobs::default());
        let out = s.deploy(release);
        assert_eq!(code(&out), Some(0), "{}", text(&out));
    }
    let out = s.cli(&["rollback", "hello", "--reason", "v3 misbehaves"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let out = s.cli(&["rollback", "hello", "--reason", "v2 too"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    assert_eq!(s.json(&["status"])[0]["live"]["release"], "v1");
    // The first deploy has nothing before it: a request that cannot be met.
    let out = s.cli(&["rollback", "hello", "--reason", "and again"]);
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(text(&out).contains("first deploy"), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn a_killed_control_plane_resumes_the_deployment_where_it_was() {
    let mut s = Scenario::new().with_v1();
    s.release("v2", &Knobs::gated());
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    let load = Load::start(s.listen);
    s.kill_server();
    // Traffic does not depend on the control plane.
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop_following(deploy);
    s.start_server();
    // A resume is never silent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s
        .serve_log()
        .contains("resuming hello v2 from phase manual_gate")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no resume line: {}",
            s.serve_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(s.json(&["show", &id])["deployment"]["phase"], "manual_gate");
    let out = s.cli(&["approve", &id]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.json(&["show", &id])["deployment"]["status"] == "in_progress" {
        assert!(
            std::time::Instant::now() < deadline,
            "the resumed deployment did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let load = load.finish();
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "promoted");
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    assert_eq!(load.releases, ["v1", "v2"]);
    // One green instance: the resumed Driver adopted it, it did not start another.
    let started = s
        .events(&id)
        .iter()
        .filter(|e| e["kind"] == "green_started")
        .count();
    assert_eq!(started, 1);
}

#[test]
fn the_projections_answer_with_designs_field_names_and_rebuild_identically() {
    let s = Scenario::new().with_v1();
    s.release("v2", &knobs(", HELLO_CRASH_AT_START = \"1\""));
    assert_eq!(code(&s.deploy("v2")), Some(3));
    let history = s.json(&["history"]);
    for field in [
        "id",
        "app",
        "release",
        "status",
        "phase",
        "started_at",
        "finished_at",
        "duration_ms",
        "fix_iterations",
        "review_rounds",
    ] {
        assert!(
            history[0].get(field).is_some(),
            "history lacks {field}: {history}"
        );
    }
    let metrics = s.json(&["metrics", "--app", "hello", "--since", "1d"]);
    for field in [
        "deployments",
        "promoted",
        "rolled_back",
        "returned",
        "success_rate",
        "duration_ms",
        "fix_iterations",
        "review_outcomes",
        "change_failure_rate",
        "deployments_per_day",
        "mean_time_to_restore_ms",
    ] {
        assert!(
            metrics.get(field).is_some(),
            "metrics lacks {field}: {metrics}"
        );
    }
    assert_eq!(metrics["deployments"], 2);
    assert_eq!(metrics["promoted"], 1);
    assert_eq!(metrics["rolled_back"], 1);
    // One restart: the same crash again sends it on to the code tiers.
    assert_eq!(metrics["fix_iterations"]["by_tier"]["driver"], 1);
    let status = s.json(&["status", "hello"]);
    for field in ["app", "live", "candidate", "retained"] {
        assert!(
            status[0].get(field).is_some(),
            "status lacks {field}: {status}"
        );
    }
    let audit = s.json(&["audit", s.json(&["history"])[1]["id"].as_str().expect("id")]);
    for field in [
        "seq", "at", "round", "role", "member", "model", "verdict", "findings", "decision", "rule",
    ] {
        assert!(
            audit[0].get(field).is_some(),
            "audit lacks {field}: {audit}"
        );
    }
    let rebuilt = s.json(&["replay", "--rebuild"]);
    assert_eq!(rebuilt["identical"], true, "{rebuilt}");
    assert_eq!(rebuilt["deployments"], 2);
    // The state of v2's deployment as of its first event.
    let id = history[0]["id"].as_str().expect("id");
    let first_seq = s.events(id)[0]["seq"].as_u64().expect("seq");
    let replayed = s.json(&["replay", id, "--at", &first_seq.to_string()]);
    assert_eq!(replayed["events"], 1);
    assert_eq!(replayed["status"], "in_progress");
}

/// One code directory, three releases of it, as a user's checkout is:
/// each release's version is in its code, and a rollback must run the
/// code that release ran, from its snapshot, not today's.
#[test]
fn a_rollback_runs_the_code_the_release_ran_and_a_second_goes_further_back() {
    let mut s = Scenario::new();
    s.start_server();
    let app = s.dir.path().join("app");
    let knobs = Knobs {
        // What it answers is the code's own: the version file beside it.
        command: Some(format!(
            "DEPLOYFLOW_RELEASE=$(cat version.txt) exec '{}'",
            common::scenario::HELLO
        )),
        ..Knobs::default()
    };
    let mut digests = Vec::new();
    for (label, version) in [("v1", "1.0"), ("v2", "2.0"), ("v6", "6.0")] {
        let written = s.release(label, &knobs);
        if app.exists() {
            std::fs::remove_dir_all(&written).unwrap();
        } else {
            std::fs::rename(&written, &app).unwrap();
        }
        std::fs::write(app.join("version.txt"), version).unwrap();
        let config = std::fs::read_to_string(&s.config).unwrap();
        std::fs::write(&s.config, config.replace(&format!("code-{label}"), "app")).unwrap();
        let out = s.deploy(label);
        assert_eq!(code(&out), Some(0), "{}", text(&out));
        assert_eq!(
            s.serving().as_deref(),
            Some(format!("hello from {version}").as_str())
        );
        let row = &s.json(&["history", "--limit", "1"])[0];
        let digest = row["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("{row}"))
            .to_string();
        assert_eq!(digest.len(), 64, "{digest}");
        let snapshot = s
            .data
            .join(format!("releases/hello/{label}-{}", &digest[..8]));
        assert!(
            snapshot.join("version.txt").is_file(),
            "{}",
            snapshot.display()
        );
        digests.push(digest);
    }
    assert_eq!(s.json(&["status"])[0]["digest"], digests[2].as_str());

    let out = s.cli(&["rollback", "hello", "--reason", "6.0 is broken"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from 2.0"));
    let status = s.json(&["status"]);
    assert_eq!(status[0]["live"]["release"], "v2", "{status}");
    assert_eq!(status[0]["digest"], digests[1].as_str(), "{status}");

    let out = s.cli(&["rollback", "hello", "--reason", "2.0 too"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from 1.0"));
    assert_eq!(s.json(&["status"])[0]["live"]["release"], "v1");
    // An app the log does not know is an error, not an empty answer.
    let unknown = s.cli(&["status", "nosuchapp"]);
    assert_eq!(code(&unknown), Some(1), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("no app nosuchapp"),
        "{}",
        text(&unknown)
    );
    // The code directory still says 6.0: nothing ran from it.
    assert_eq!(
        std::fs::read_to_string(app.join("version.txt")).unwrap(),
        "6.0"
    );
}

/// A release label names folders, images and reports and is printed to
/// terminals: one that could break any of them is refused before anything
/// is recorded, and so are router addresses no client could use.
#[test]
fn bad_labels_and_bad_router_addresses_are_refused_before_anything_is_recorded() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    let long = "x".repeat(129);
    for label in ["a/b", "v1\nv2", "\u{1b}[31mred", long.as_str()] {
        let out = s.deploy(label);
        assert_eq!(code(&out), Some(2), "{label:?}: {}", text(&out));
        assert!(text(&out).contains("release label"), "{}", text(&out));
    }
    assert_eq!(s.json(&["history"]), serde_json::json!([]));
    let config = std::fs::read_to_string(&s.config).unwrap();
    for (from, to, key) in [
        (
            s.listen.to_string(),
            "127.0.0.1:0".to_string(),
            "router.listen",
        ),
        (
            s.admin.to_string(),
            format!("0.0.0.0:{}", s.admin.port()),
            "router.admin",
        ),
    ] {
        std::fs::write(&s.config, config.replace(&from, &to)).unwrap();
        let out = s.deploy("v1");
        assert_eq!(code(&out), Some(2), "{}", text(&out));
        assert!(text(&out).contains(key), "{}", text(&out));
    }
    assert_eq!(s.json(&["history"]), serde_json::json!([]));
}

/// What users hit in a day: output piped into a reader that stops early,
/// a replay from before a deployment began, a crash diagnosis that must
/// quote the release that crashed, not the one before it.
#[test]
fn small_things_a_piped_show_a_replay_before_the_start_and_a_crash_diagnosis() {
    let mut s = Scenario::new();
    s.start_server();
    // v1 leaves words in its slot's log; v2 goes to the other slot; v3
    // comes back to v1's slot and crashes at once, saying nothing.
    s.release(
        "v1",
        &Knobs {
            command: Some(format!(
                "echo 'KeyError: only v1 says this' >&2; exec '{}'",
                common::scenario::HELLO
            )),
            ..Knobs::default()
        },
    );
    assert_eq!(code(&s.deploy("v1")), Some(0));
    let first = s.last_id();
    s.release("v2", &Knobs::default());
    assert_eq!(code(&s.deploy("v2")), Some(0));
    s.release(
        "v3",
        &Knobs {
            command: Some("exit 78".into()),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v3");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let second = s.last_id();
    let diagnoses: Vec<String> = s
        .payloads(&second, "green_unhealthy")
        .iter()
        .filter_map(|e| e["diagnosis"].as_str().map(str::to_string))
        .collect();
    assert!(!diagnoses.is_empty(), "{:?}", s.events(&second));
    for diagnosis in &diagnoses {
        assert!(!diagnosis.contains("only v1 says this"), "{diagnosis}");
        assert!(diagnosis.contains("78"), "{diagnosis}");
    }

    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --config '{}' --data-dir '{}' --server http://{} events | true",
            env!("CARGO_BIN_EXE_deployflow"),
            s.config.display(),
            s.data.display(),
            s.api
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !said.contains("panicked") && !said.contains("Broken pipe"),
        "{said}"
    );

    let early = s.cli(&["replay", &second, "--at", "0"]);
    assert_eq!(code(&early), Some(1), "{}", text(&early));
    assert!(
        text(&early).contains("had not started yet"),
        "{}",
        text(&early)
    );
    let unknown = s.cli(&["replay", "01900000-0000-7000-8000-000000000000"]);
    assert!(
        text(&unknown).contains("no deployment"),
        "{}",
        text(&unknown)
    );
    assert_eq!(code(&s.cli(&["replay", &first, "--at", "0"])), Some(0));
}

/// An abort during a long effect (a health wait with an hour's deadline)
/// is acted on at once: the wait is dropped, green stops, the deployment
/// ends `aborted`, and the app's lock is free for the next deploy.
#[test]
fn an_abort_during_a_long_health_wait_stops_green_and_frees_the_lock_at_once() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &Knobs {
            env: ", HELLO_UNHEALTHY_STARTS = \"1000\"".into(),
            ..Knobs::default()
        },
    );
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        config.replace("deadline_s = 5", "deadline_s = 3600"),
    )
    .unwrap();
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("prepare");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !s.events(&id).iter().any(|e| e["kind"] == "green_started") {
        assert!(std::time::Instant::now() < deadline, "green never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let asked = std::time::Instant::now();
    let out = s.cli(&["abort", &id, "--reason", "wrong build"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().unwrap();
    let took = asked.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "the abort took {took:?}"
    );
    eprintln!("abort to the end of the deployment: {took:?}");
    assert_eq!(
        s.json(&["history"])[0]["status"],
        "aborted",
        "{}",
        text(&out)
    );
    assert!(s.events(&id).iter().any(|e| e["kind"] == "green_stopped"));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    // The lock is free: the next deploy goes ahead.
    s.release("v3", &Knobs::default());
    let out = s.deploy("v3");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}
