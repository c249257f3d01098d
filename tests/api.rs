//! The control plane's API from outside: who may use it.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::http::request;
use common::scenario::{Scenario, text};

const TOKEN: &str = "a-long-enough-test-token-7f3e";

#[test]
fn beyond_loopback_every_endpoint_but_health_needs_the_token() {
    let mut s = Scenario::new();
    let everywhere = SocketAddr::from(([0, 0, 0, 0], s.api.port()));
    let refused = Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .args(["serve", "--listen", &everywhere.to_string(), "--data-dir"])
        .arg(&s.data)
        .env_remove("DEPLOYFLOW_TOKEN")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("DEPLOYFLOW_TOKEN"));

    s.api = everywhere;
    s.start_server_with(&[("DEPLOYFLOW_TOKEN", TOKEN)]);
    let local = SocketAddr::from(([127, 0, 0, 1], everywhere.port()));
    assert_eq!(request(local, "GET", "/health", &[], "").0, 200);
    assert_eq!(request(local, "GET", "/api/health", &[], "").0, 200);

    let (status, head, body) = request(local, "GET", "/api/deployments", &[], "");
    assert_eq!(status, 401, "{body}");
    assert!(head.contains("www-authenticate: bearer"));
    assert!(body.contains("DEPLOYFLOW_TOKEN"));
    let wrong = "Authorization: Bearer a-long-enough-test-token-7f3f";
    assert_eq!(
        request(local, "GET", "/api/deployments", &[wrong], "").0,
        401
    );
    let bearer = format!("Authorization: Bearer {TOKEN}");
    assert_eq!(
        request(local, "GET", "/api/deployments", &[&bearer], "").0,
        200
    );
    // The token itself is no session cookie: signing in gives one.
    let raw = format!("Cookie: deployflow_session={TOKEN}");
    assert_eq!(request(local, "GET", "/api/status", &[&raw], "").0, 401);
    let (_, head, _) = request(
        local,
        "POST",
        "/login",
        &["Content-Type: application/x-www-form-urlencoded"],
        &format!("token={TOKEN}"),
    );
    let session = head
        .split("set-cookie: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{head}"));
    let cookie = format!("Cookie: {session}");
    assert_eq!(request(local, "GET", "/api/status", &[&cookie], "").0, 200);

    // No cross-origin access: a page elsewhere gets no CORS grant, with or
    // without the token.
    for headers in [
        vec![
            "Origin: http://evil.example",
            "Access-Control-Request-Method: POST",
        ],
        vec!["Origin: http://evil.example", bearer.as_str()],
    ] {
        let (_, head, _) = request(local, "OPTIONS", "/api/deployments", &headers, "");
        assert!(!head.contains("access-control-allow"), "{head}");
        let (_, head, _) = request(local, "GET", "/api/deployments", &headers, "");
        assert!(!head.contains("access-control-allow"), "{head}");
    }

    // The command line sends DEPLOYFLOW_TOKEN.
    let with = s
        .command(&["history"])
        .env("DEPLOYFLOW_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(with.status.code(), Some(0), "{}", text(&with));
    let without = s
        .command(&["history"])
        .env_remove("DEPLOYFLOW_TOKEN")
        .output()
        .unwrap();
    assert_eq!(without.status.code(), Some(1), "{}", text(&without));
    assert!(
        text(&without).contains("needs its token"),
        "{}",
        text(&without)
    );
}

/// The `data` of each server-sent event in `body`, with its `id`.
fn sse_events(body: &str) -> Vec<(u64, serde_json::Value)> {
    let mut events = Vec::new();
    let mut id = None;
    for line in body.lines() {
        if let Some(value) = line.strip_prefix("id: ") {
            id = value.trim().parse().ok();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let seq = id.take().expect("every event has an id");
            events.push((
                seq,
                serde_json::from_str(data).expect("data is a JSON line"),
            ));
        }
    }
    events
}

#[test]
fn the_event_stream_serves_the_log_resumes_by_sequence_and_follows_it_live() {
    use std::io::{BufRead, BufReader};

    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &common::scenario::Knobs::default());
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = s.last_id();

    let (status, head, body) = request(s.api, "GET", "/api/events?follow=false", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let all = sse_events(&body);
    assert!(all.len() > 10, "{body}");
    for (i, (seq, line)) in all.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert_eq!(line["seq"], *seq);
    }
    assert_eq!(all[0].1["kind"], "deployment_requested");
    assert_eq!(all[0].1["event"]["release"], "v1");

    // A client that saw up to 3 goes on from 4.
    let (_, _, body) = request(
        s.api,
        "GET",
        "/api/events?follow=false",
        &["Last-Event-ID: 3"],
        "",
    );
    assert_eq!(sse_events(&body)[0].0, 4);
    let (_, _, body) = request(
        s.api,
        "GET",
        &format!("/api/events?follow=false&stream={id}&from=2"),
        &[],
        "",
    );
    let own = sse_events(&body);
    assert!(own.iter().all(|(_, line)| line["stream"] == id.as_str()));
    assert_eq!(own[0].0, 2);
    let (status, _, _) = request(s.api, "GET", "/api/events?stream=nope", &[], "");
    assert_eq!(status, 400);

    // `events` reads the log through the control plane that holds it, the
    // same lines; `--follow` goes on with what is committed next.
    let printed = s.cli(&["events"]);
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&printed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), all.len());
    assert_eq!(lines[5], all[5].1);

    let mut follower = s
        .command(&["events", "--follow", "--from", &all.len().to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (seen, lines_seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = seen.send(line);
        }
    });
    s.release("v2", &common::scenario::Knobs::default());
    let out = s.deploy("v2");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first: serde_json::Value = serde_json::from_str(
        &lines_seen
            .recv_timeout(Duration::from_secs(20))
            .expect("--follow printed the next deployment's events"),
    )
    .unwrap();
    assert_eq!(first["seq"], all.len() as u64);
    assert_eq!(first["kind"], "deployment_requested");
    assert_eq!(first["event"]["release"], "v2");
    assert!(follower.try_wait().unwrap().is_none(), "--follow goes on");
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn metrics_are_prometheus_text_that_promtool_accepts() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &common::scenario::Knobs::default());
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Traffic through the router, for its counters.
    for _ in 0..5 {
        let (status, _) = common::scenario::get(s.listen).unwrap();
        assert_eq!(status, 200);
    }

    let (status, head, body) = request(s.api, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for expected in [
        "deployflow_deployments{status=\"promoted\"} 1",
        "deployflow_deployments{status=\"rolled_back\"} 0",
        "deployflow_fix_attempts_total{tier=\"driver\"} 0",
        "deployflow_verdicts_total{member=\"tests\",role=\"trio\",verdict=\"approve\"} 1",
        "deployflow_verdicts_total{member=\"synthesis\",role=\"senior\",verdict=\"approve\"} 1",
        "deployflow_deployment_duration_seconds_count{status=\"promoted\"} 1",
        "deployflow_phase_duration_seconds_bucket{phase=\"test\",le=\"+Inf\"} 1",
        &format!("deployflow_router_up{{router=\"{}\"}} 1", s.admin),
    ] {
        assert!(body.contains(expected), "{expected} missing from:\n{body}");
    }
    let routed = body
        .lines()
        .find(|l| l.starts_with("deployflow_router_requests_total{"))
        .unwrap_or_else(|| panic!("no router requests in:\n{body}"));
    let count: f64 = routed.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 5.0, "{routed}");

    // promtool (Debian's prometheus package) parses and lints it.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus), as .ci/run does");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}\n{}",
        text(&checked),
        body
    );
    assert!(
        text(&checked).trim().ends_with("stderr:"),
        "lint findings: {}",
        text(&checked)
    );
}

/// A request with a JSON body: status and body.
fn send_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = request(
        addr,
        method,
        path,
        &["Content-Type: application/json"],
        body,
    );
    (status, body)
}

#[test]
fn the_openapi_document_names_exactly_the_routes_served() {
    let mut s = Scenario::new();
    s.start_server();
    let (status, _, body) = request(s.api, "GET", "/api/openapi.json", &[], "");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    // Every route the README and the command line use.
    assert_eq!(
        documented,
        [
            "/api/apps/{app}/alerts",
            "/api/apps/{app}/rollback",
            "/api/control-plane",
            "/api/deployments",
            "/api/deployments/{id}",
            "/api/deployments/{id}/analysis",
            "/api/deployments/{id}/audit",
            "/api/deployments/{id}/replay",
            "/api/deployments/{id}/report",
            "/api/deployments/{id}/{action}",
            "/api/events",
            "/api/health",
            "/api/metrics",
            "/api/rebuild",
            "/api/resume",
            "/api/status",
            "/api/stop",
            "/api/verify",
            "/health",
            "/metrics",
        ]
    );

    // A path nobody serves: axum's empty 404. Every documented operation
    // is served: whatever it answers, it is not that.
    let (status, body) = send_json(s.api, "GET", "/api/nothing-here", "");
    assert_eq!((status, body.as_str()), (404, ""));
    let some_id = "0190d8a1-7d50-7c4a-9a3e-8f6b2c1d0e5f";
    // `/api/stop` last: it ends the control plane.
    let mut paths: Vec<_> = paths.iter().collect();
    paths.sort_by_key(|(path, _)| path.as_str() == "/api/stop");
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", some_id)
                .replace("{action}", "approve")
                .replace("{app}", "no-such-app");
            let concrete = if concrete == "/api/events" {
                "/api/events?follow=false".to_string()
            } else {
                concrete
            };
            let (status, body) = send_json(s.api, &method.to_uppercase(), &concrete, "{}");
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !(status == 404 && body.is_empty()),
                "{method} {path} is documented but not served"
            );
            assert!(
                operations[method]["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its answers"
            );
        }
    }
}

/// A refusal keeps its kind from the flow to the answer: an unknown
/// deployment is 404, a command its state does not allow 409, a bad query
/// a JSON 400 with exit code 2, and the command line exits with the code
/// the answer carries.
#[test]
fn refusals_keep_their_kind_to_the_answer_and_the_exit_code() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &common::scenario::Knobs::default());
    assert_eq!(s.deploy("v1").status.code(), Some(0));
    let id = s.last_id();
    let body = r#"{"by":"t","reason":"r"}"#;
    let json = "Content-Type: application/json";

    let unknown = "/api/deployments/01900000-0000-7000-8000-000000000000/approve";
    let (status, _, answer) = request(s.api, "POST", unknown, &[json], body);
    assert_eq!(status, 404, "{answer}");
    let (status, _, answer) = request(
        s.api,
        "POST",
        &format!("/api/deployments/{id}/approve"),
        &[json],
        body,
    );
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("already ended"), "{answer}");
    // The app's first deploy: nothing to roll back to, a request that
    // cannot be met (bad input), said the same by the API and the CLI.
    let (status, _, answer) = request(s.api, "POST", "/api/apps/hello/rollback", &[json], body);
    assert_eq!(status, 400, "{answer}");
    let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(error["code"], 2, "{answer}");
    let out = s.cli(&["rollback", "hello", "--reason", "r"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A gate command for a deployment past its gate: a conflict, exit 1.
    let out = s.cli(&["reject", &id, "--reason", "late"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    for path in [
        "/api/deployments?limit=many",
        "/api/status?app=a&app=b&since=soon",
    ] {
        let (status, head, answer) = request(s.api, "GET", path, &[], "");
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(head.contains("application/json"), "{path}: {head}");
        let error: serde_json::Value =
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(error["code"], 2, "{answer}");
    }
}
