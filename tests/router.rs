//! The router through its binary, on real loopback sockets: switches under
//! load, drains, restarts, canary splits, pauses, upgrades and errors.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::router::{RouterProcess, free_addr, get, send_with};
use common::upstream::Upstream;
use common::wrk::which;
use hyper::{Method, StatusCode};
use serde_json::json;

async fn router() -> (tempfile::TempDir, RouterProcess) {
    let dir = tempfile::tempdir().unwrap();
    let router = RouterProcess::start(dir.path(), &[]).await;
    (dir, router)
}

/// A router serving app `hello` on a fresh address from upstream `blue`.
async fn hello_on_blue() -> (
    tempfile::TempDir,
    RouterProcess,
    Upstream,
    std::net::SocketAddr,
) {
    let (dir, router) = router().await;
    let blue = Upstream::start("blue").await;
    let listen = free_addr();
    router.set_route("hello", listen, blue.addr).await;
    (dir, router, blue, listen)
}

async fn blue_and_green() -> (Upstream, Upstream) {
    (
        Upstream::start("blue").await,
        Upstream::start("green").await,
    )
}

fn body(bytes: &bytes::Bytes) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_flipped_100_times_under_load_drops_nothing() {
    let wrk = which("wrk").expect("wrk is needed for this test: apt-get install wrk");
    let (_dir, router) = router().await;
    let (blue, green) = blue_and_green().await;
    let listen = free_addr();
    router.set_route("hello", listen, blue.addr).await;

    let load = tokio::task::spawn_blocking(move || {
        std::process::Command::new(wrk)
            // Long enough to outlast 100 flips even when each save's fsyncs
            // are slow on a busy disk; the assertion below checks it did.
            .args(["-t2", "-c16", "-d12s", "--timeout", "2s"])
            .arg(format!("http://{listen}/"))
            .output()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    for flip in 0..100 {
        let upstream = if flip % 2 == 0 { green.addr } else { blue.addr };
        router.set_route("hello", listen, upstream).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!load.is_finished(), "the load ended before the last flip");
    let output = load.await.unwrap().expect("run wrk");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {report}");
    assert!(
        !report.contains("Non-2xx"),
        "failed responses during the flips:\n{report}"
    );
    assert!(
        !report.contains("Socket errors"),
        "socket errors during the flips:\n{report}"
    );
    let requests: u64 = report
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in")
                .map(|(n, _)| n.trim().parse().ok())
        })
        .flatten()
        .expect("wrk's request count");
    assert!(requests > 1000, "{report}");
    assert!(
        blue.hits() > 0 && green.hits() > 0,
        "blue {} green {}",
        blue.hits(),
        green.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_on_the_old_upstream_completes_and_the_drain_waits_for_it() {
    let (_dir, router) = router().await;
    let (blue, green) = blue_and_green().await;
    let listen = free_addr();
    router.set_route("hello", listen, blue.addr).await;

    let slow = tokio::spawn(async move { get(&format!("http://{listen}/slow?ms=2000")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    router.set_route("hello", listen, green.addr).await;
    let (_, _, after) = get(&format!("http://{listen}/")).await.unwrap();
    assert_eq!(body(&after), "green");

    let started = Instant::now();
    let drained = router.drain(blue.addr, 10_000).await;
    assert_eq!(drained["drained"], true, "{drained}");
    assert_eq!(drained["in_flight"], 0);
    assert!(
        started.elapsed() > Duration::from_millis(1000),
        "the drain did not wait"
    );
    let (status, _, bytes) = slow.await.unwrap().unwrap();
    assert_eq!((status, body(&bytes)), (StatusCode::OK, "blue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_times_out_says_how_much_is_left() {
    let (_dir, router, blue, listen) = hello_on_blue().await;
    let _hanging = tokio::spawn(async move { get(&format!("http://{listen}/slow?ms=5000")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let drained = router.drain(blue.addr, 200).await;
    assert_eq!(drained["drained"], false);
    assert_eq!(drained["in_flight"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_router_comes_back_with_its_routes() {
    let dir = tempfile::tempdir().unwrap();
    let blue = Upstream::start("blue").await;
    let listen = free_addr();
    let mut router = RouterProcess::start(dir.path(), &[]).await;
    router.set_route("hello", listen, blue.addr).await;
    router.kill();
    assert!(get(&format!("http://{listen}/")).await.is_err());

    let router = RouterProcess::start(dir.path(), &[]).await;
    let (status, _, bytes) = get(&format!("http://{listen}/")).await.unwrap();
    assert_eq!((status, body(&bytes)), (StatusCode::OK, "blue"));
    let (_, routes) = router.admin(Method::GET, "/routes", None).await;
    assert_eq!(routes["hello"]["upstream"], blue.addr.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_split_sends_its_share_and_keeps_visitors_on_their_side() {
    let (_dir, router) = router().await;
    let (blue, green) = blue_and_green().await;
    let listen = free_addr();
    let (status, body_json) = router
        .admin(
            Method::PUT,
            "/routes/hello",
            Some(json!({ "listen": listen, "upstream": blue.addr,
                         "canary": { "upstream": green.addr, "percent": 30 } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body_json}");
    let url = format!("http://{listen}/");
    let mut to_green = 0;
    let mut green_cookie = None;
    for _ in 0..100 {
        let (_, headers, bytes) = get(&url).await.unwrap();
        let cookie = headers["set-cookie"].to_str().unwrap().to_string();
        if body(&bytes) == "green" {
            to_green += 1;
            assert!(cookie.starts_with("deployflow_canary=canary"), "{cookie}");
            green_cookie = Some("deployflow_canary=canary");
        } else {
            assert!(cookie.starts_with("deployflow_canary=stable"), "{cookie}");
        }
    }
    assert_eq!(to_green, 30);
    for _ in 0..20 {
        let (_, headers, bytes) = send_with(
            Method::GET,
            &url,
            None,
            &[("cookie", green_cookie.unwrap())],
        )
        .await
        .unwrap();
        assert_eq!(body(&bytes), "green");
        assert!(
            headers.get("set-cookie").is_none(),
            "a visitor with a side is not re-placed"
        );
    }
}

/// An HTTP/1.1 client on one connection it never gives up: a pool could
/// open a second one while the first is being returned to it.
struct KeptConnection {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl KeptConnection {
    async fn open(addr: std::net::SocketAddr) -> KeptConnection {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        KeptConnection {
            stream: tokio::io::BufReader::new(stream),
        }
    }

    /// `GET /`, its answer read whole (by its Content-Length).
    async fn get(&mut self) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        self.stream
            .get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: hello\r\n\r\n")
            .await
            .unwrap();
        let mut length = 0;
        let mut status = String::new();
        self.stream.read_line(&mut status).await.unwrap();
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.unwrap();
    }
}

/// A client on one kept connection whose requests a 50/50 split sends to
/// both sides: the router keeps a connection to each, so changing sides
/// opens none (before, each change opened one: a split ran at 0.43 of a
/// single route's requests/s in benches/router.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_keeps_one_upstream_connection_to_each_side_per_client_connection() {
    let (_dir, router) = router().await;
    let (blue, green) = blue_and_green().await;
    let listen = free_addr();
    let (status, body_json) = router
        .admin(
            Method::PUT,
            "/routes/hello",
            Some(json!({ "listen": listen, "upstream": blue.addr,
                         "canary": { "upstream": green.addr, "percent": 50 } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body_json}");
    // One client connection, its requests one after another.
    let mut client = KeptConnection::open(listen).await;
    for _ in 0..100 {
        client.get().await;
    }
    assert_eq!(blue.hits() + green.hits(), 100);
    assert!(blue.hits() > 20 && green.hits() > 20);
    assert_eq!((blue.connections(), green.connections()), (1, 1));
    // Back to one route: the connection to the side left is let go.
    router.set_route("hello", listen, green.addr).await;
    for _ in 0..10 {
        client.get().await;
    }
    assert_eq!(green.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_app_holds_requests_until_resumed_or_the_hold_runs_out() {
    let (_dir, router, _blue, listen) = hello_on_blue().await;

    let (status, _) = router
        .admin(
            Method::POST,
            "/routes/hello/pause",
            Some(json!({ "max_hold_ms": 5000 })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let held = tokio::spawn(async move {
        let started = Instant::now();
        let answer = get(&format!("http://{listen}/")).await.unwrap();
        (answer, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!held.is_finished(), "a paused app answered");
    router
        .admin(Method::POST, "/routes/hello/resume", None)
        .await;
    let ((status, _, bytes), waited) = held.await.unwrap();
    assert_eq!((status, body(&bytes)), (StatusCode::OK, "blue"));
    assert!(waited >= Duration::from_millis(400));

    router.pause("hello", 200).await;
    let (status, _, bytes) = get(&format!("http://{listen}/")).await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", body(&bytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_are_added_and_hop_by_hop_ones_removed() {
    let (_dir, _router, _blue, listen) = hello_on_blue().await;
    let (_, _, bytes) = send_with(
        Method::GET,
        &format!("http://{listen}/headers?x=1"),
        None,
        &[
            ("x-forwarded-for", "10.1.2.3"),
            ("connection", "x-secret"),
            ("x-secret", "1"),
            ("x-kept", "yes"),
        ],
    )
    .await
    .unwrap();
    let seen: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(seen["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], listen.to_string());
    assert_eq!(seen["host"], listen.to_string());
    assert_eq!(seen["x-kept"], "yes");
    assert!(seen.get("x-secret").is_none(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_stream_both_ways_and_http2_cleartext_works() {
    use http_body_util::{BodyExt, Full};
    let (_dir, _router, _blue, listen) = hello_on_blue().await;

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::get(format!("http://{listen}/"))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = client.request(request).await.expect("an HTTP/2 request");
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body(&bytes), "blue");

    let big = "x".repeat(1 << 20);
    let (status, _, bytes) =
        common::router::send(Method::POST, &format!("http://{listen}/"), Some(big))
            .await
            .unwrap();
    assert_eq!((status, body(&bytes)), (StatusCode::OK, "blue:1048576"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_is_passed_through_both_ways_and_no_other_is() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, _router, _blue, listen) = hello_on_blue().await;

    let mut socket = open_websocket(listen).await;
    socket.write_all(b"ping over the upgrade").await.unwrap();
    let mut echoed = [0u8; 21];
    socket.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping over the upgrade");

    // An h2c upgrade would hand the client a connection straight to one
    // upstream; the router forwards it as a plain request instead.
    let (status, _, bytes) = send_with(
        Method::GET,
        &format!("http://{listen}/"),
        None,
        &[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQAAP__"),
        ],
    )
    .await
    .unwrap();
    assert_eq!((status, body(&bytes)), (StatusCode::OK, "blue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_silent_upstream_gets_502_or_504_never_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let router = RouterProcess::start(dir.path(), &["--response-timeout-ms", "300"]).await;
    let listen = free_addr();
    router.set_route("hello", listen, free_addr()).await;
    let started = Instant::now();
    let (status, _, bytes) = get(&format!("http://{listen}/")).await.unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body(&bytes).contains("refused"), "{}", body(&bytes));

    let blue = Upstream::start("blue").await;
    router.set_route("hello", listen, blue.addr).await;
    let (status, _, bytes) = get(&format!("http://{listen}/hang")).await.unwrap();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{}", body(&bytes));
    assert!(started.elapsed() < Duration::from_secs(5));

    let (_, stats) = router.admin(Method::GET, "/stats", None).await;
    assert_eq!(stats[blue.addr.to_string()]["failures"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_requests_get_400_and_change_nothing() {
    let (_dir, router, blue, listen) = hello_on_blue().await;
    let cases = [
        ("/routes/hello", json!({ "listen": listen })),
        (
            "/routes/hello",
            json!({ "listen": "not an address", "upstream": blue.addr }),
        ),
        (
            "/routes/hello",
            json!({ "listen": listen, "upstream": blue.addr, "canary": { "upstream": free_addr(), "percent": 150 } }),
        ),
        (
            "/routes/Bad%20Name",
            json!({ "listen": free_addr(), "upstream": blue.addr }),
        ),
    ];
    for (path, body_json) in cases {
        let (status, answer) = router
            .admin(Method::PUT, path, Some(body_json.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body_json} -> {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let (status, _) = router
        .admin(Method::POST, "/drain", Some(json!({ "upstream": "x" })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = router.admin(Method::POST, "/routes/nope/pause", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, routes) = router.admin(Method::GET, "/routes", None).await;
    assert_eq!(routes["hello"]["upstream"], blue.addr.to_string());
    assert_eq!(routes.as_object().unwrap().len(), 1);
}

#[test]
fn the_admin_api_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .args(["router", "--admin", "0.0.0.0:7071", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must listen on loopback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_admin_header_and_a_loopback_host() {
    let (_dir, router) = router().await;
    let blue = Upstream::start("blue").await;
    let body = json!({ "listen": free_addr(), "upstream": blue.addr }).to_string();
    let (status, _, answer) = common::router::send(
        Method::PUT,
        &router.url("/routes/hello"),
        Some(body.clone()),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", body_text(&answer));
    assert!(body_text(&answer).contains("x-deployflow-admin"));
    let (status, _, _) = send_with(
        Method::PUT,
        &router.url("/routes/hello"),
        Some(body),
        &[("x-deployflow-admin", "1"), ("host", "evil.example")],
    )
    .await
    .unwrap();
    // The control plane's guard, shared: another host is misdirected.
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    let (_, routes) = router.admin(Method::GET, "/routes", None).await;
    assert!(routes.as_object().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_listen_address_keeps_the_app_paused_and_the_old_one_closes() {
    let (_dir, router) = router().await;
    let blue = Upstream::start("blue").await;
    let (first, second) = (free_addr(), free_addr());
    router.set_route("hello", first, blue.addr).await;
    router.pause("hello", 200).await;
    router.set_route("hello", second, blue.addr).await;
    let (_, route) = router.admin(Method::GET, "/routes/hello", None).await;
    assert_eq!(route["paused"], true, "{route}");
    router
        .admin(Method::POST, "/routes/hello/resume", None)
        .await;
    let (status, _, bytes) = get(&format!("http://{second}/")).await.unwrap();
    assert_eq!((status, body(&bytes)), (StatusCode::OK, "blue"));
    assert!(
        get(&format!("http://{first}/")).await.is_err(),
        "the old address still serves"
    );

    let (status, _) = router.admin(Method::DELETE, "/routes/hello", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        get(&format!("http://{second}/")).await.is_err(),
        "a removed app still serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_route_that_cannot_bind_at_start_is_kept_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let blue = Upstream::start("blue").await;
    let (taken, other) = (free_addr(), free_addr());
    let mut router = RouterProcess::start(dir.path(), &[]).await;
    router.set_route("hello", taken, blue.addr).await;
    router.kill();

    let _squatter = std::net::TcpListener::bind(taken).unwrap();
    let router = RouterProcess::start(dir.path(), &[]).await;
    router.set_route("other", other, blue.addr).await;
    let (_, routes) = router.admin(Method::GET, "/routes", None).await;
    assert_eq!(routes["hello"]["listen"], taken.to_string(), "{routes}");
    let saved = std::fs::read_to_string(dir.path().join("routes.json")).unwrap();
    assert!(saved.contains(&taken.to_string()), "{saved}");
}

fn body_text(bytes: &bytes::Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_router_on_the_same_state_directory_is_refused() {
    let (dir, _router) = router().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .args(["router", "--admin", &free_addr().to_string(), "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another router"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_route_closes_the_keep_alive_connections_it_had() {
    use http_body_util::{BodyExt, Empty};
    let (_dir, router, _blue, listen) = hello_on_blue().await;

    let stream = tokio::net::TcpStream::connect(listen).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = || {
        hyper::Request::get("/")
            .header("host", "hello")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let response = sender.send_request(request()).await.unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "blue"
    );

    router.admin(Method::DELETE, "/routes/hello", None).await;
    // The router closes the idle connection; the client sees it end.
    tokio::time::timeout(Duration::from_secs(5), connection)
        .await
        .expect("the connection stayed open after its route was removed")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_router_lets_requests_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut router = RouterProcess::start(dir.path(), &[]).await;
    let blue = Upstream::start("blue").await;
    let listen = free_addr();
    router.set_route("hello", listen, blue.addr).await;
    let slow = tokio::spawn(async move { get(&format!("http://{listen}/slow?ms=1500")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || router.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let (code, _, bytes) = slow
        .await
        .unwrap()
        .expect("the request in flight was cut off");
    assert_eq!((code, body(&bytes)), (StatusCode::OK, "blue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_upstream_stops_sending_is_given_up_and_not_left_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let router = RouterProcess::start(dir.path(), &["--response-timeout-ms", "300"]).await;
    // An upstream that sends its headers and 3 of 100 promised bytes, then
    // nothing, holding the connection open.
    let stalling = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = stalling.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = stalling.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await;
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let listen = free_addr();
    router.set_route("hello", listen, upstream).await;
    let started = Instant::now();
    let answer = get(&format!("http://{listen}/")).await;
    assert!(answer.is_err(), "a truncated body was passed off as whole");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (_, stats) = router.admin(Method::GET, "/stats", None).await;
    assert_eq!(stats[upstream.to_string()]["in_flight"], 0, "{stats}");
}

/// Opens a WebSocket through the router at `listen`; returns the socket
/// after the 101.
async fn open_websocket(listen: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(listen).await.unwrap();
    socket
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: hello\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_websocket_is_closed_and_stops_counting_for_the_drain() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let router = RouterProcess::start(dir.path(), &["--tunnel-idle-timeout-ms", "300"]).await;
    let blue = Upstream::start("blue").await;
    let listen = free_addr();
    router.set_route("hello", listen, blue.addr).await;
    let mut socket = open_websocket(listen).await;
    // Silent: the router closes it, and the drain then finds nothing in flight.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut rest))
        .await
        .expect("an idle WebSocket stayed open");
    assert_eq!(read.unwrap(), 0);
    let drained = router.drain(blue.addr, 5_000).await;
    assert_eq!(drained["in_flight"], 0, "{drained}");
}

/// One request on a connection of its own, kept open after: its answer,
/// and the sender (which says whether the router closed the connection).
async fn request_kept_open(
    listen: std::net::SocketAddr,
    path: &str,
) -> tokio::task::JoinHandle<
    Result<
        (
            bytes::Bytes,
            hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
        ),
        hyper::Error,
    >,
> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(listen).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "hello")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    tokio::spawn(async move {
        let response = sender.send_request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        Ok((body, sender))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_idle_connections_make_room_and_busy_ones_are_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    // Two workers, one connection each: of three connections, at least two
    // land on one worker.
    let router = RouterProcess::start(dir.path(), &["--max-connections", "2"]).await;
    let blue = Upstream::start("blue").await;
    let listen = free_addr();
    router.set_route("hello", listen, blue.addr).await;

    // All three busy: a request in flight is never cut, so one connection
    // waits for a place and is then served, not refused.
    let mut busy = Vec::new();
    for _ in 0..3 {
        busy.push(request_kept_open(listen, "/slow?ms=1500").await);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(busy.iter().filter(|a| a.is_finished()).count(), 0);
    for answer in busy {
        let (body, _sender) = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("a waiting connection was never served")
            .unwrap()
            .unwrap();
        assert_eq!(body, "blue");
    }

    // Idle keep-alive connections: a newcomer closes the one idle longest
    // instead of waiting behind it.
    let mut kept = Vec::new();
    for _ in 0..3 {
        let answer = request_kept_open(listen, "/").await;
        let (body, sender) = tokio::time::timeout(Duration::from_secs(2), answer)
            .await
            .expect("a newcomer waited behind idle connections")
            .unwrap()
            .unwrap();
        assert_eq!(body, "blue");
        kept.push(sender);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        kept.iter().any(|sender| sender.is_closed()),
        "no idle connection was closed to make room"
    );
}

/// wrk's count of requests that did not get a 2xx/3xx: non-2xx answers
/// and socket errors.
fn wrk_failures(report: &str) -> u64 {
    let number_after = |line: &str, key: &str| -> u64 {
        line.split(key)
            .nth(1)
            .and_then(|rest| rest.trim().split([',', ' ']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    report
        .lines()
        .map(|line| {
            if line.contains("Non-2xx or 3xx responses:") {
                number_after(line, "responses:")
            } else if line.contains("Socket errors:") {
                ["connect", "read", "write", "timeout"]
                    .iter()
                    .map(|k| number_after(line, k))
                    .sum()
            } else {
                0
            }
        })
        .sum()
}

fn wrk_requests(report: &str) -> u64 {
    report
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// An upstream whose accept queue overflows under load (CPython's
/// `http.server`, a backlog of 5, 16 connections) drops SYNs: nginx in
/// front of it waits them out and fails nothing, and so must the router,
/// which tries again a connect that failed before the request was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_backlog_of_5_the_router_fails_no_more_requests_than_nginx() {
    let wrk = which("wrk").expect("wrk is needed for this test: apt-get install wrk");
    let nginx = which("nginx")
        .or_else(|| Some(std::path::PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
        .expect("nginx is needed for this test: apt-get install nginx-light");
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from CPython\n").unwrap();
    let upstream = free_addr();
    let mut python = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &upstream.port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&www)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let proxy = free_addr();
    let conf = dir.path().join("proxy.conf");
    let work = dir.path().display();
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2;\ndaemon off;\npid {work}/proxy.pid;\nerror_log {work}/proxy.err;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n\
             server {{ listen {proxy}; location / {{ proxy_pass http://{upstream}; }} }}\n}}\n"
        ),
    )
    .unwrap();
    let mut nginx = std::process::Command::new(nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx");
    let router = RouterProcess::start(&dir.path().join("router"), &[]).await;
    let listen = free_addr();
    router.set_route("hello", listen, upstream).await;
    for addr in [upstream, proxy, listen] {
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{addr} never listened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let load = |addr: std::net::SocketAddr| {
        let wrk = wrk.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(wrk)
                .args(["-t2", "-c16", "-d6s", "--timeout", "10s"])
                .arg(format!("http://{addr}/"))
                .output()
                .expect("run wrk");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    let through_nginx = load(proxy).await.unwrap();
    let through_router = load(listen).await.unwrap();
    let (_, stats) = router.admin(Method::GET, "/stats", None).await;
    let retries = &stats[upstream.to_string()]["retries"];
    let (nginx_failed, router_failed) =
        (wrk_failures(&through_nginx), wrk_failures(&through_router));
    eprintln!(
        "backlog-5 upstream, wrk -c16 -d6s: nginx {} requests, {nginx_failed} failed; router {} requests, {router_failed} failed, {retries} connects retried",
        wrk_requests(&through_nginx),
        wrk_requests(&through_router),
    );
    let _ = nginx.kill();
    let _ = python.kill();
    let _ = (nginx.wait(), python.wait());
    assert!(wrk_requests(&through_router) > 500, "{through_router}");
    assert!(
        router_failed <= nginx_failed,
        "router {router_failed} failed, nginx {nginx_failed}:\n{through_router}\n{through_nginx}"
    );
}
