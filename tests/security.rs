//! The holes found by attacking deployflow on loopback, each shown closed
//! through the binary (issue 17).

mod common;

use common::http::request;
use common::scenario::{HELLO, Knobs, Scenario, text};

/// The log's events, as `deployflow events` prints them.
fn event_count(s: &Scenario) -> usize {
    let out = s.cli(&["events"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A page that rebinds its own name to 127.0.0.1 sends what a local client
/// sends, but names its own host: refused before any handler, for reads
/// and writes, the token set or not; a change from another site's page is
/// refused even with a loopback `Host`.
#[test]
fn a_dns_rebinding_page_can_neither_deploy_nor_approve_nor_read() {
    let mut s = Scenario::new();
    s.start_server_with(&[("DEPLOYFLOW_ALLOWED_HOSTS", "deploy.internal")]);
    let marker = s.dir.path().join("ran");
    let knobs = Knobs {
        command: Some(format!("touch {} && exec '{HELLO}'", marker.display())),
        manual_gate: true,
        ..Knobs::default()
    };
    s.release("v1", &knobs);
    let config = std::fs::read_to_string(&s.config).unwrap();
    let deploy = serde_json::json!({
        "config": config,
        "base_dir": s.dir.path(),
        "release": "v1",
    })
    .to_string();
    let port = s.api.port();
    let evil_host = format!("Host: evil.example:{port}");
    let evil_origin = format!("Origin: http://evil.example:{port}");
    let before = event_count(&s);

    for (method, path, body) in [
        ("POST", "/api/deployments", deploy.as_str()),
        ("GET", "/api/deployments", ""),
        ("GET", "/", ""),
        ("GET", "/api/events?follow=false", ""),
        ("GET", "/metrics", ""),
        ("POST", "/api/resume", ""),
    ] {
        let headers = [
            evil_host.as_str(),
            evil_origin.as_str(),
            "Content-Type: application/json",
        ];
        let (status, _, answer) = request(s.api, method, path, &headers, body);
        assert_eq!(status, 421, "{method} {path}: {answer}");
        assert!(answer.contains("evil.example"), "{answer}");
    }
    // A loopback Host with another site's Origin: a cross-site form post.
    let loopback_host = format!("Host: 127.0.0.1:{port}");
    let (status, _, answer) = request(
        s.api,
        "POST",
        "/api/deployments",
        &[
            &loopback_host,
            &evil_origin,
            "Content-Type: application/json",
        ],
        &deploy,
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(event_count(&s), before, "a refused request appended events");
    assert!(
        !marker.exists(),
        "runtime.command ran for a refused request"
    );

    // The command line and a name given with --allowed-host still work.
    let gate = s.deploy_in_background("v1");
    let id = s.wait_in_progress("manual_gate");
    assert!(marker.exists());
    let approve = format!("/api/deployments/{id}/approve");
    let body = r#"{"by":"page","reason":"rebound"}"#;
    let (status, _, answer) = request(
        s.api,
        "POST",
        &approve,
        &[&evil_host, &evil_origin, "Content-Type: application/json"],
        body,
    );
    assert_eq!(status, 421, "{answer}");
    let allowed_host = format!("Host: deploy.internal:{port}");
    let (status, _, answer) = request(
        s.api,
        "GET",
        &format!("/api/deployments/{id}"),
        &[&allowed_host],
        "",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        s.json(&["history"])[0]["phase"],
        "manual_gate",
        "the rebound approve reached the gate"
    );
    let out = s.cli(&["approve", &id, "--reason", "checked by hand"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = gate.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let audit = s.json(&["audit", &id]);
    let manual: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["role"] == "manual")
        .collect();
    assert_eq!(manual.len(), 1, "{audit}");
    assert_ne!(manual[0]["member"], "page", "{audit}");
}
