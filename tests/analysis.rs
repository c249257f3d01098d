//! Analysis before the switch, through the binary (process backend,
//! built-in members, built-in router): each provider's measurements
//! recorded, and a run's verdict promoting, rolling back with blue
//! untouched, or holding the release at the manual gate.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use common::analysis::{LIVE_SUCCESS, compared, watched};
use common::json_server::JsonServer;
use common::scenario::{Knobs, Scenario, stop_following, text};
use serde_json::Value;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// A release whose config runs `templates` (TOML) before the switch.
fn analysed(templates: &str, pre_promotion: &str) -> Knobs {
    Knobs {
        review: format!("{templates}\n[rollout]\npre_promotion = [{pre_promotion}]\n"),
        ..Knobs::default()
    }
}

fn exec_template(name: &str, command: &str, extra: &str) -> String {
    format!(
        r#"
[analysis.{name}]
interval_s = 1
count = 2
{extra}
[[analysis.{name}.metrics]]
name = "success"
provider = "exec"
command = "{command}"
success = "result >= 0.99"
"#
    )
}

#[test]
fn an_analysis_that_passes_promotes_and_every_measurement_is_in_the_log() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &analysed(&exec_template("smoke", "echo 0.995", ""), "\"smoke\""),
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let id = s.last_id();
    let rows = s.json(&["analysis", &id]);
    let rows = rows.as_array().expect("measurements");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["name"], "smoke");
        assert_eq!(row["phase"], "pre_promotion");
        assert_eq!(row["metric"], "success");
        assert_eq!(row["index"], i);
        assert_eq!(row["value"], 0.995);
        assert_eq!(row["verdict"], "successful");
        assert!(
            row["at"].is_string() && row.get("baseline").is_some(),
            "{row}"
        );
    }
    let events = s.kinds(&id);
    let at = |kind: &str| events.iter().position(|k| k == kind).expect(kind);
    assert!(at("decision_made") < at("analysis_started"));
    assert!(
        at("analysis_completed") < at("traffic_switched"),
        "{events:?}"
    );
    let text_out = s.cli(&["analysis", &id]);
    let printed = text(&text_out);
    assert!(
        printed.contains("smoke (pre_promotion, run 1): successful"),
        "{printed}"
    );
}

#[test]
fn a_failing_analysis_rolls_back_before_the_switch_and_blue_keeps_serving() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &analysed(&exec_template("smoke", "echo 0.5", ""), "\"smoke\""),
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let id = s.last_id();
    let events = s.kinds(&id);
    assert!(
        !events.contains(&"traffic_switched".to_string()),
        "{events:?}"
    );
    let completed = s.payloads(&id, "analysis_completed");
    assert_eq!(completed[0]["verdict"], "failed");
    assert_eq!(
        completed[0]["reason"],
        "metric `success` failed 1 time (failure_limit 0)"
    );
    let rollback = s.payloads(&id, "rollback_started");
    assert_eq!(rollback[0]["after_promotion"], false);
    assert!(
        rollback[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("analysis `smoke` failed"),
        "{rollback:?}"
    );
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["verdict"], "failed");
    assert_eq!(
        measured[0]["detail"],
        "success `result >= 0.99` does not hold"
    );
    assert_eq!(s.json(&["history"])[0]["status"], "rolled_back");
}

#[test]
fn an_inconclusive_analysis_waits_at_the_gate_and_a_person_decides() {
    let s = Scenario::new().with_v1();
    let template = r#"
[analysis.between]
interval_s = 1
count = 1
[[analysis.between.metrics]]
name = "errors"
provider = "exec"
command = "echo 0.05"
success = "result < 0.01"
failure = "result > 0.1"
"#;
    s.release("v2", &analysed(template, "\"between\""));
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["verdict"], "inconclusive");
    let out = s.cli(&["approve", &id, "--reason", "0.05 is fine today"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));

    // The same again, rejected this time: back to v2, untouched.
    s.release("v3", &analysed(template, "\"between\""));
    let deploy = s.deploy_in_background("v3");
    let id = s.wait_in_progress("manual_gate");
    let out = s.cli(&["reject", &id, "--reason", "too many errors"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
}

#[test]
fn errors_in_a_row_past_their_limit_fail_the_run() {
    let s = Scenario::new().with_v1();
    let template = exec_template(
        "flaky",
        "echo broken >&2; exit 7",
        "consecutive_error_limit = 1\ncount = 5",
    )
    .replace("count = 2\n", "");
    s.release("v2", &analysed(&template, "\"flaky\""));
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let id = s.last_id();
    let measured = s.json(&["analysis", &id]);
    let rows = measured.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "the second error in a row ends it: {rows:?}");
    assert!(rows.iter().all(|r| r["verdict"] == "error"));
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("exit code 7: broken"),
        "{rows:?}"
    );
    let completed = s.payloads(&id, "analysis_completed");
    assert_eq!(
        completed[0]["reason"],
        "metric `success` could not be measured 2 times in a row (consecutive_error_limit 1)"
    );
}

#[test]
fn a_prometheus_query_and_a_web_endpoint_are_measured_with_the_targets_names() {
    let prometheus = JsonServer::start(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.998"]}]}}"#,
    );
    let web = JsonServer::start(r#"{"checks": {"error_rate": 0.002}, "ok": true}"#);
    let s = Scenario::new().with_v1();
    let templates = format!(
        r#"
[analysis.prom]
interval_s = 1
[[analysis.prom.metrics]]
name = "success"
provider = "prometheus"
address = "http://{prom}"
query = "sum(rate(ok{{{{app=\"{{{{app}}}}\",release=\"{{{{release}}}}\"}}}}[1m]))"
success = "result > 0.99"

[analysis.web]
interval_s = 1
[[analysis.web.metrics]]
name = "errors"
provider = "web"
url = "http://{web}/status?slot={{{{slot}}}}"
json_path = "$.checks.error_rate"
success = "result < 0.01"
"#,
        prom = prometheus.addr,
        web = web.addr,
    );
    s.release("v2", &analysed(&templates, "\"prom\", \"web\""));
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let id = s.last_id();
    let measured = s.json(&["analysis", &id]);
    let rows = measured.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (&rows[0]["name"], &rows[0]["value"]),
        (&Value::from("prom"), &Value::from(0.998))
    );
    assert_eq!(
        (&rows[1]["name"], &rows[1]["value"]),
        (&Value::from("web"), &Value::from(0.002))
    );
    assert_eq!(rows[1]["run"], 2);
    let asked = prometheus.asked();
    assert!(
        asked
            .iter()
            .any(|target| target.starts_with("/api/v1/query?query=")
                && target.contains("app%3D%22hello%22")
                && target.contains("release%3D%22v2%22")),
        "{asked:?}"
    );
    assert!(
        web.asked().iter().any(|t| t == "/status?slot=green"),
        "{:?}",
        web.asked()
    );

    // No values found (an idle app, a wrong query) is an error, never a pass.
    prometheus.answer(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
    s.release(
        "v3",
        &analysed(
            &templates.replace(
                "[analysis.prom]\n",
                "[analysis.prom]\nconsecutive_error_limit = 0\n",
            ),
            "\"prom\"",
        ),
    );
    let out = s.deploy("v3");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let measured = s.json(&["analysis", &s.last_id()]);
    assert_eq!(measured[0]["verdict"], "error");
    assert!(
        measured[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no values found"),
        "{measured}"
    );
}

#[test]
fn real_traffic_measured_before_the_switch_is_too_little_to_pass() {
    // Before the switch no user reaches green: the router's counters for
    // it stay at zero, which is inconclusive, not a pass (Flagger's
    // "no values found").
    let s = Scenario::new().with_v1();
    let template = r#"
[analysis.live]
interval_s = 1
[[analysis.live.metrics]]
name = "success"
provider = "router"
measure = "success_rate"
success = "result >= 0.99"
min_requests = 5
"#;
    s.release("v2", &analysed(template, "\"live\""));
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["verdict"], "inconclusive", "{measured}");
    assert_eq!(
        measured[0]["detail"],
        "0 requests in the window, fewer than min_requests (5)"
    );
    let out = s.cli(&["reject", &id, "--reason", "no traffic to judge"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
}

#[test]
fn a_bad_condition_or_a_missing_template_is_a_config_error_with_its_place() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &analysed(
            &exec_template("smoke", "echo 1", "").replace("result >= 0.99", "result >= "),
            "\"smoke\"",
        ),
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("analysis.smoke.metrics[0].success") && said.contains("not a CEL expression"),
        "{said}"
    );
    let config = std::fs::read_to_string(&s.config).expect("config");
    let line = config
        .lines()
        .position(|l| l.starts_with("success = \"result >= \""))
        .expect("the line")
        + 1;
    assert!(said.contains(&format!(":{line}:")), "line {line}: {said}");

    s.release(
        "v3",
        &analysed(&exec_template("smoke", "echo 1", ""), "\"other\""),
    );
    let out = s.deploy("v3");
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no [analysis.other] template"),
        "{}",
        text(&out)
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
}

#[test]
fn a_release_failing_real_traffic_after_the_switch_goes_back_to_blue_at_once() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &watched(LIVE_SUCCESS, "\"live\"", 30, ", HELLO_FAIL_PROXIED = \"3\""),
    );
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    // What failed is v2's own answers while it served; no request was
    // dropped by the switches, and none failed on blue's side.
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
    let events = s.kinds(&id);
    let switches: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, k)| *k == "traffic_switched")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(switches.len(), 2, "{events:?}");
    assert!(
        !events[switches[0]..].iter().any(|k| k == "green_started"),
        "blue was kept, not started again: {events:?}"
    );
    let rollback = s.payloads(&id, "rollback_started");
    assert_eq!(rollback[0]["after_promotion"], true);
    assert_eq!(rollback[0]["to_release"], "v1");
    assert!(
        rollback[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("analysis `live` failed: metric `success` failed"),
        "{rollback:?}"
    );
    let measured = s.json(&["analysis", &id]);
    assert_eq!(measured[0]["phase"], "post_promotion");
    assert_eq!(measured[0]["verdict"], "failed");
    assert!(
        measured[0]["value"].as_f64().unwrap_or(1.0) < 0.95,
        "{measured}"
    );
    let history = s.json(&["history"]);
    assert_eq!(history[0]["status"], "rolled_back");
    assert_eq!(history[0]["strategy"], "bluegreen");
    assert!(
        history[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rolled back: analysis `live` failed"),
        "{history}"
    );
    assert!(
        history[1]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("promoted: green passed its tests, its review"),
        "{history}"
    );
    let metrics = s.json(&["metrics"]);
    assert_eq!(metrics["automated_rollbacks"], 1, "{metrics}");
    assert_eq!(metrics["analysis_runs"]["failed"], 1, "{metrics}");
    let detected = metrics["time_to_detect_ms"]["max"].as_i64().unwrap_or(0);
    assert!((1_000..30_000).contains(&detected), "{metrics}");
    let report = text(&s.cli(&["report", &id]));
    assert!(report.contains("## Analysis"), "{report}");
    assert!(
        report.contains("`live` (post_promotion, run 1): failed: metric `success` failed"),
        "{report}"
    );
    // Green, the failing release, is stopped; v1 serves from where it ran.
    let status = s.json(&["status"]);
    assert_eq!(status[0]["live"]["release"], "v1");
}

#[test]
fn a_release_that_passes_its_watch_stops_blue_only_after_the_scale_down_delay() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &watched(
            &LIVE_SUCCESS.replace("count = 3", "count = 2"),
            "\"live\"",
            4,
            "",
        ),
    );
    let (out, load) = s.deploy_under_load("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let id = s.last_id();
    let events = s.kinds(&id);
    let at = |kind: &str| events.iter().position(|k| k == kind).expect(kind);
    assert!(at("traffic_switched") < at("analysis_started"));
    assert!(at("analysis_completed") < at("blue_kept"));
    assert!(at("blue_kept") < at("blue_stopped"), "{events:?}");
    let kept = s.payloads(&id, "blue_kept");
    assert!(
        kept[0]["waited_ms"].as_u64().unwrap_or(0) >= 4000,
        "{kept:?}"
    );
    let measured = s.json(&["analysis", &id]);
    assert!(
        measured
            .as_array()
            .expect("rows")
            .iter()
            .all(|m| m["verdict"] == "successful"),
        "{measured}"
    );
}

#[test]
fn a_rollback_while_blue_is_kept_is_an_instant_switch_back() {
    let s = Scenario::new().with_v1();
    s.release("v2", &watched("", "", 60, ""));
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("analysis");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let out = s.cli(&["rollback", "--reason", "customers complain"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let events = s.kinds(&id);
    let from = events
        .iter()
        .position(|k| k == "rollback_started")
        .expect("rollback_started");
    assert!(
        !events[from..].iter().any(|k| k == "green_started"),
        "nothing was started again: {events:?}"
    );
    // Going anywhere but blue is refused while blue still runs.
    s.release("v3", &watched("", "", 60, ""));
    let deploy = s.deploy_in_background("v3");
    s.wait_in_progress("analysis");
    let out = s.cli(&["rollback", "--to", "v2", "--reason", "not v1"]);
    assert_ne!(code(&out), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("still runs beside the release"),
        "{}",
        text(&out)
    );
    let out = s.cli(&["rollback", "--reason", "back to blue"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = deploy.wait_with_output().expect("deploy ends");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
}

/// Green against blue in the same window under the built-in load.

#[test]
fn a_slower_release_is_stopped_before_the_switch_by_the_comparison_under_load() {
    let s = Scenario::new().with_v1();
    s.release(
        "v2",
        &Knobs {
            env: ", HELLO_DELAY_MS = \"30\"".into(),
            review: compared(40),
            ..Knobs::default()
        },
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let id = s.last_id();
    let measured = s.json(&["analysis", &id]);
    let latency = &measured[0];
    assert_eq!(latency["metric"], "latency");
    assert_eq!(latency["verdict"], "failed", "{measured}");
    assert!(
        latency["value"]["p_value"].as_f64().unwrap_or(1.0) < 0.001,
        "{measured}"
    );
    assert!(
        latency["value"]["ratio_p50"].as_f64().unwrap_or(0.0) > 5.0,
        "{measured}"
    );
    assert!(latency["baseline"]["p50"].as_f64().is_some(), "{measured}");
    assert!(
        latency["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("significantly worse: green against blue"),
        "{measured}"
    );
    // Its errors were no worse: that metric passed in the same window.
    assert_eq!(measured[1]["metric"], "errors");
    assert_eq!(measured[1]["verdict"], "successful", "{measured}");
    // The load went straight to the instances, not through the router.
    let status = s.json(&["status"]);
    assert_eq!(status[0]["live"]["release"], "v1");
}

#[test]
fn a_release_as_fast_as_blue_passes_the_comparison_under_load() {
    let s = Scenario::new().with_v1();
    // Explicit conditions, loose enough that noise on a shared machine
    // does not fail a release that is as fast as its baseline.
    let template = compared(40).replace(
        "measure = \"compare_latency\"",
        "measure = \"compare_latency\"\nsuccess = \"result.ratio_p50 < 3.0\"",
    );
    s.release(
        "v2",
        &Knobs {
            review: template,
            ..Knobs::default()
        },
    );
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let id = s.last_id();
    let measured = s.json(&["analysis", &id]);
    for m in measured.as_array().expect("rows") {
        assert_eq!(m["verdict"], "successful", "{measured}");
        assert!(m["baseline"].is_object(), "{measured}");
    }
    // At 40 requests a second to each side for 2 s.
    let errors = &measured[1]["value"];
    assert_eq!(errors["rate"], 0.0, "{measured}");
}

#[test]
fn a_control_plane_killed_mid_analysis_resumes_it_and_counts_each_measurement_once() {
    let mut s = Scenario::new().with_v1();
    s.release(
        "v2",
        &analysed(
            &exec_template("smoke", "echo 1", "").replace("count = 2", "count = 4"),
            "\"smoke\"",
        ),
    );
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("analysis");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.json(&["analysis", &id]).as_array().map_or(0, Vec::len) < 2 {
        assert!(std::time::Instant::now() < deadline, "no measurement came");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    s.kill_server();
    stop_following(deploy);
    s.start_server();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.json(&["show", &id])["deployment"]["status"] == "in_progress" {
        assert!(
            std::time::Instant::now() < deadline,
            "the deployment did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "promoted");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let rows = s.json(&["analysis", &id]);
    let indices: Vec<u64> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["index"].as_u64())
        .collect();
    assert_eq!(indices, [0, 1, 2, 3], "{rows}");
    s.kill_server();
    assert_eq!(s.cli(&["verify"]).status.code(), Some(0));
}

/// Alertmanager's webhook for one alert.
fn alertmanager(status: &str) -> String {
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"HighErrorRate\"}}","status":"{status}","receiver":"deployflow",
        "groupLabels":{{"alertname":"HighErrorRate"}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am",
        "alerts":[{{"status":"{status}","labels":{{"alertname":"HighErrorRate","app":"hello"}},
        "annotations":{{"summary":"5xx above 5% for 2m"}},"startsAt":"2026-12-02T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prom","fingerprint":"f00d"}}]}}"#
    )
}

fn post_alert(s: &Scenario, status: &str) -> (u16, String) {
    let (code, _, body) = common::http::request(
        s.api,
        "POST",
        "/api/apps/hello/alerts",
        &["Content-Type: application/json"],
        &alertmanager(status),
    );
    (code, body)
}

#[test]
fn a_firing_alert_soon_after_the_switch_rolls_the_release_back_and_is_recorded() {
    let s = Scenario::new().with_v1();
    let alerting = Knobs {
        review: "[rollout]\nrollback_on_alert = true\nalert_window_s = 3600\n".into(),
        ..Knobs::default()
    };
    s.release("v2", &alerting);
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let id = s.last_id();
    // A resolved alert is recorded and changes nothing.
    let (status, body) = post_alert(&s, "resolved");
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let (status, body) = post_alert(&s, "firing");
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.serving().as_deref() != Some("hello from v1") {
        assert!(std::time::Instant::now() < deadline, "not rolled back");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let alerts = s.payloads(&id, "alert_received");
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[1]["alerts"][0]["name"], "HighErrorRate");
    assert_eq!(alerts[1]["alerts"][0]["summary"], "5xx above 5% for 2m");
    assert!(
        alerts[1]["since_switch_ms"].as_u64().is_some(),
        "{alerts:?}"
    );
    let rollback = s.payloads(&id, "rollback_started");
    assert_eq!(rollback[0]["reason"], "alert HighErrorRate firing");
    assert_eq!(rollback[0]["after_promotion"], true);

    // Without rollback_on_alert, an alert is only recorded.
    s.release("v3", &Knobs::default());
    assert_eq!(code(&s.deploy("v3")), Some(0));
    let (status, body) = post_alert(&s, "firing");
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(s.serving().as_deref(), Some("hello from v3"));
    assert_eq!(s.payloads(&s.last_id(), "alert_received").len(), 1);
    // Bad payloads change nothing.
    let (status, _, _) = common::http::request(
        s.api,
        "POST",
        "/api/apps/hello/alerts",
        &["Content-Type: application/json"],
        r#"{"status":"exploded","alerts":[]}"#,
    );
    assert_eq!(status, 400);
    let (status, _, _) = common::http::request(
        s.api,
        "POST",
        "/api/apps/nobody/alerts",
        &["Content-Type: application/json"],
        &alertmanager("firing"),
    );
    assert_eq!(status, 404);
}

fn notifying(hook: &common::json_server::Hook) -> Knobs {
    Knobs {
        review: format!(
            "[[notify]]\nurl = \"http://{}/hook\"\nevents = [\"promoted\", \"rolled_back\"]\n",
            hook.addr
        ),
        ..Knobs::default()
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_webhook_is_told_once_despite_its_failures_and_a_restart() {
    let hook = common::json_server::Hook::start(2);
    let mut s = Scenario::new().with_v1();
    s.release("v2", &notifying(&hook));
    assert_eq!(code(&s.deploy("v2")), Some(0));
    wait_for("v2's promotion was not delivered", || {
        !hook.delivered().is_empty()
    });
    let delivered = hook.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let (delivery, body) = &delivered[0];
    assert_eq!(body["kind"], "promoted");
    assert_eq!(body["app"], "hello");
    assert_eq!(body["release"], "v2");
    assert!(
        body["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("hello v2: promoted (deployment "),
        "{body}"
    );
    assert_eq!(body["event"]["completed"]["outcome"], "promoted", "{body}");
    assert_eq!(delivery, &body["seq"].to_string());
    assert_eq!(hook.requests(), 3, "two refusals, then the delivery");

    // Down while v3 is promoted, and the control plane killed meanwhile:
    // told once it is back, and only once.
    let down = common::json_server::Hook::start(u32::MAX);
    s.release("v3", &notifying(&down));
    assert_eq!(code(&s.deploy("v3")), Some(0));
    wait_for("no try was made", || down.requests() > 0);
    s.kill_server();
    down.heal();
    s.start_server();
    wait_for("v3's promotion was not delivered after the restart", || {
        !down.delivered().is_empty()
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let delivered = down.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].1["release"], "v3");
    // v2's webhook heard nothing more.
    assert_eq!(hook.delivered().len(), 1);
}

#[test]
fn a_failure_within_the_limit_promotes_and_the_dashboard_draws_it_with_its_verdicts() {
    let s = Scenario::new().with_v1();
    // The first measurement fails, the next two pass: one failure is what
    // failure_limit = 1 allows.
    let template = exec_template(
        "flaky",
        "test -e seen && echo 1 || (touch seen; echo 0.5)",
        "count = 3\nfailure_limit = 1",
    )
    .replace("count = 2\n", "");
    s.release("v2", &analysed(&template, "\"flaky\""));
    let out = s.deploy("v2");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let id = s.last_id();
    let measured = s.json(&["analysis", &id]);
    let verdicts: Vec<&str> = measured
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["verdict"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        verdicts,
        ["failed", "successful", "successful"],
        "{measured}"
    );
    assert_eq!(
        s.payloads(&id, "analysis_completed")[0]["verdict"],
        "successful"
    );

    // The deployment's page draws the metric over its measurements, a
    // point per measurement in its verdict's colour, and lists them.
    let (status, _, page) =
        common::http::request(s.api, "GET", &format!("/deployments/{id}"), &[], "");
    assert_eq!(status, 200, "{page}");
    let analysis = page.split("<h2>Analysis</h2>").nth(1).unwrap_or_default();
    assert!(analysis.contains("<svg"), "a chart: {page}");
    assert!(analysis.contains("flaky"), "{analysis}");
    assert!(
        analysis.to_lowercase().contains("#b42318"),
        "the failed point is red: {analysis}"
    );
    assert!(
        analysis.to_lowercase().contains("#1b7f3a"),
        "the passing ones green: {analysis}"
    );
    assert!(analysis.contains("3 measurements"), "{analysis}");
}
