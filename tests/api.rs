//! The control plane's API from outside: who may use it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::scenario::{Scenario, text};

const TOKEN: &str = "a-long-enough-test-token-7f3e";

/// One request on its own connection: status, head and body.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

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
    assert_eq!(request(local, "GET", "/health", &[]).0, 200);
    assert_eq!(request(local, "GET", "/api/health", &[]).0, 200);

    let (status, head, body) = request(local, "GET", "/api/deployments", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(head.contains("www-authenticate: bearer"));
    assert!(body.contains("DEPLOYFLOW_TOKEN"));
    let wrong = "Authorization: Bearer a-long-enough-test-token-7f3f";
    assert_eq!(request(local, "GET", "/api/deployments", &[wrong]).0, 401);
    let bearer = format!("Authorization: Bearer {TOKEN}");
    assert_eq!(request(local, "GET", "/api/deployments", &[&bearer]).0, 200);
    let cookie = format!("Cookie: deployflow_token={TOKEN}");
    assert_eq!(request(local, "GET", "/api/status", &[&cookie]).0, 200);

    // No cross-origin access: a page elsewhere gets no CORS grant, with or
    // without the token.
    for headers in [
        vec![
            "Origin: http://evil.example",
            "Access-Control-Request-Method: POST",
        ],
        vec!["Origin: http://evil.example", bearer.as_str()],
    ] {
        let (_, head, _) = request(local, "OPTIONS", "/api/deployments", &headers);
        assert!(!head.contains("access-control-allow"), "{head}");
        let (_, head, _) = request(local, "GET", "/api/deployments", &headers);
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
