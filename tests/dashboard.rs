//! The dashboard through real HTTP: the pages a person sees, and signing
//! in where the control plane asks for its token.

mod common;

use common::http::request;
use common::scenario::{Knobs, Scenario, text};

#[test]
fn the_overview_and_a_deployments_timeline_are_served_as_html() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = s.last_id();

    let (status, head, body) = request(s.api, "GET", "/", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: text/html"), "{head}");
    for expected in [
        "hello",
        "v1",
        "promoted",
        "<svg",
        "Deployment duration",
        "Outcomes",
        &id[..8],
    ] {
        assert!(
            body.contains(expected),
            "{expected} missing from the overview:\n{body}"
        );
    }
    assert!(
        body.contains("data-stream=\"/api/events?from="),
        "live updates: {body}"
    );

    let (status, _, page) = request(s.api, "GET", &format!("/deployments/{id}"), &[], "");
    assert_eq!(status, 200, "{page}");
    for expected in [
        "Phases",
        "prepare",
        "test",
        "review",
        "completion",
        "Tests",
        "Round 1",
        "synthesis",
        "approve",
        "Decision: promote",
        "roll back",
    ] {
        assert!(
            page.contains(expected),
            "{expected} missing from the deployment page:\n{page}"
        );
    }
    assert!(page.contains(&format!("data-stream=\"/api/events?stream={id}&amp;from=")));
    let (status, _, part) = request(s.api, "GET", &format!("/deployments/{id}/live"), &[], "");
    assert_eq!(status, 200);
    assert!(
        part.contains("Phases") && !part.contains("<html"),
        "a fragment: {part}"
    );

    let (status, _, _) = request(s.api, "GET", "/deployments/not-an-id", &[], "");
    assert_eq!(status, 400);
    let (status, head, js) = request(s.api, "GET", "/assets/dashboard.js", &[], "");
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript") && js.contains("EventSource"));
}

#[test]
fn with_a_token_a_person_signs_in_and_gets_a_strict_cookie() {
    let mut s = Scenario::new();
    let token = "dashboard-token-long-enough";
    s.start_server_with(&[("DEPLOYFLOW_TOKEN", token)]);

    let (status, head, _) = request(s.api, "GET", "/", &[], "");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /login"));
    let (status, _, form) = request(s.api, "GET", "/login", &[], "");
    assert_eq!(status, 200);
    assert!(form.contains("type=\"password\""));

    let form_type = "Content-Type: application/x-www-form-urlencoded";
    let (status, head, _) = request(
        s.api,
        "POST",
        "/login",
        &[form_type],
        "token=wrong-token-of-some-length",
    );
    assert_eq!(status, 401);
    assert!(!head.contains("set-cookie"));
    let (status, head, _) = request(
        s.api,
        "POST",
        "/login",
        &[form_type],
        &format!("token={token}"),
    );
    assert_eq!(status, 303, "{head}");
    // A session value, never the token itself.
    let session = head
        .split("set-cookie: deployflow_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{head}"))
        .to_string();
    assert!(!session.contains(token), "{head}");
    assert!(
        head.contains(&format!(
            "set-cookie: deployflow_session={session}; path=/; httponly; samesite=strict"
        )),
        "{head}"
    );
    let cookie = format!("Cookie: deployflow_session={session}");
    let (status, _, body) = request(s.api, "GET", "/", &[&cookie], "");
    assert_eq!(status, 200, "{body}");
    // The API still answers programs with 401, not a redirect.
    let (status, _, _) = request(s.api, "GET", "/api/status", &[], "");
    assert_eq!(status, 401);
}
