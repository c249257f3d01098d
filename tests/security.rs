//! The holes found by attacking deployflow on loopback, each shown closed
//! through the binary (issue 17).

// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::{Duration, Instant};

use common::forge::{FakeForge, REPO, TOKEN, TOKEN_ENV};
use common::git::{commit_all, completing_scenario, git};
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

/// The environment `pid` was started with.
fn environ(pid: &str) -> String {
    let raw = std::fs::read(format!("/proc/{}/environ", pid.trim()))
        .unwrap_or_else(|e| panic!("the environment of {pid}: {e}"));
    String::from_utf8_lossy(&raw).replace('\0', "\n")
}

/// The forge's token and the control plane's own API token reach no child
/// of the control plane (the router it starts, the app, git), and no hook
/// of the repository runs when the report is committed and pushed (a fixer
/// agent could have written one).
#[test]
fn no_child_inherits_the_control_planes_tokens_and_no_repository_hook_runs() {
    const API_TOKEN: &str = "an-api-token-for-the-child-test-9c1d";
    let forge = FakeForge::start(REPO, &[1], &[], &[]);
    let (mut s, repo, _) = completing_scenario(Some(&forge), true);
    s.kill_server();
    s.start_server_with(&[(TOKEN_ENV, TOKEN), ("DEPLOYFLOW_TOKEN", API_TOKEN)]);
    let cli = |args: &[&str]| {
        s.command(args)
            .env("DEPLOYFLOW_TOKEN", API_TOKEN)
            .output()
            .unwrap()
    };
    commit_all(&repo, "The first release\n\nFixes #1");
    git(s.dir.path(), &["init", "--quiet", "--bare", "remote.git"]);
    let remote = s.dir.path().join("remote.git");
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&repo, &["push", "--quiet", "origin", "main"]);
    let hooks = repo.join(".git/hooks");
    for hook in [
        "pre-commit",
        "commit-msg",
        "post-commit",
        "pre-push",
        "reference-transaction",
    ] {
        let path = hooks.join(hook);
        std::fs::write(
            &path,
            format!("#!/bin/sh\nenv > '{}.ran'\n", path.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let out = cli(&["deploy", "--release", "v1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = cli(&all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    };
    let id = json(&["history"])[0]["id"].as_str().unwrap().to_string();
    let committed = json(&["show", &id])["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "report_committed")
        .map(|e| e["event"]["report_committed"].clone())
        .expect("the report was committed");
    assert_eq!(committed["pushed"], true, "{committed}");
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&repo, &["rev-parse", "HEAD"])
    );
    let ran: Vec<_> = std::fs::read_dir(&hooks)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ran"))
        .map(|e| e.file_name())
        .collect();
    assert!(ran.is_empty(), "hooks ran: {ran:?}");

    let router = std::fs::read_to_string(s.data.join("router/router.lock")).unwrap();
    let record = std::fs::read_to_string(s.data.join("instances/hello/green/instance.json"))
        .or_else(|_| std::fs::read_to_string(s.data.join("instances/hello/blue/instance.json")))
        .unwrap();
    let app: serde_json::Value = serde_json::from_str(&record).unwrap();
    for (child, env) in [
        ("the router", environ(&router)),
        ("the app", environ(&app["pid"].to_string())),
    ] {
        assert!(env.contains("PATH="), "{child}: {env}");
        for withheld in [TOKEN_ENV, TOKEN, "DEPLOYFLOW_TOKEN", API_TOKEN] {
            assert!(!env.contains(withheld), "{child} got {withheld}");
        }
    }
}

/// Every file and folder under `dir` with group or other permissions.
fn readable_by_others(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() || meta.file_type().is_socket() {
            continue;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            found.push(format!(
                "{} {:o}",
                path.display(),
                meta.permissions().mode() & 0o777
            ));
        }
        if meta.is_dir() {
            todo.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    found
}

/// The raw test and instance logs hold what the app and its tests print,
/// secrets included: the data directory is its owner's alone, a data
/// directory an older version left open is tightened at start, and a cut
/// of the output (the test output's 256 KiB tail) leaves no part of a
/// secret in an event.
#[test]
fn the_data_directory_is_owner_only_and_a_cut_leaves_no_half_secret() {
    use std::fmt::Write as _;
    const SECRET: &str = "QWERTYUIOPASDFGHJKLZXCVB";
    const CAP: usize = 256 * 1024;
    let mut s = Scenario::new();
    // What an older version left: readable by anyone.
    let old = s.data.join("deployments/old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("tests-0.log"), "old output").unwrap();
    for (path, mode) in [
        (&s.data, 0o755),
        (&old, 0o755),
        (&old.join("tests-0.log"), 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    s.start_server_with(&[("API_TOKEN", SECRET)]);
    let code = s.release(
        "v1",
        &Knobs {
            env: ", HELLO_REQUIRE_SECRET = \"API_TOKEN\"".into(),
            runtime: "secrets = [\"API_TOKEN\"]".into(),
            // The app prints its secret, as apps do.
            command: Some(format!("echo \\\"token $API_TOKEN\\\" && exec '{HELLO}'")),
            ..Knobs::default()
        },
    );
    // The tests print the secret just before their last 256 KiB, so the
    // output's cap cuts it in half: its last 12 characters are kept.
    let mut output = "filler\n".repeat(100);
    output.push_str("token=");
    output.push_str(SECRET);
    output.push_str("zzzzzzz\n");
    let line = format!("{}\n", "y".repeat(6897));
    for _ in 0..38 {
        output.push_str(&line);
    }
    assert_eq!(output.len() - output.find(SECRET).unwrap(), CAP + 12);
    std::fs::write(code.join("out.txt"), &output).unwrap();
    let config = std::fs::read_to_string(&s.config).unwrap();
    let config = config.replacen(
        &format!("tests = \"'{HELLO}' smoke\""),
        "tests = \"cat out.txt\"",
        1,
    );
    std::fs::write(&s.config, config).unwrap();
    let out = s.deploy("v1");
    assert!(out.status.code().is_some(), "{}", text(&out));

    let id = s.last_id();
    let tails: Vec<String> = s
        .payloads(&id, "test_run_completed")
        .iter()
        .map(|run| run["output_tail"].as_str().unwrap().to_string())
        .collect();
    assert!(!tails.is_empty());
    for tail in &tails {
        assert!(
            tail.contains("[secret API_TOKEN, cut]zzzzzzz"),
            "{}",
            &tail[..200]
        );
    }
    let events = s.cli(&["events", "--json"]);
    let events = String::from_utf8_lossy(&events.stdout);
    let (_, _, page) = request(s.api, "GET", &format!("/deployments/{id}"), &[], "");
    let mut windows = String::new();
    for start in 0..=SECRET.len() - 4 {
        let window = &SECRET[start..start + 4];
        for (place, text) in [("the log", &*events), ("the dashboard", page.as_str())] {
            if text.contains(window) {
                let _ = writeln!(windows, "{window} in {place}");
            }
        }
    }
    assert!(windows.is_empty(), "{windows}");

    // The raw logs do hold it, and only the owner can read them.
    let raw = std::fs::read_to_string(s.data.join(format!("deployments/{id}/tests-0.log")))
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {:?}",
                std::fs::read_dir(s.data.join("deployments"))
                    .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            )
        });
    assert!(raw.contains(SECRET));
    let instance = std::fs::read_dir(s.data.join("instances/hello"))
        .unwrap()
        .flatten()
        .map(|slot| std::fs::read_to_string(slot.path().join("stdout.log")).unwrap_or_default())
        .collect::<String>();
    assert!(instance.contains(SECRET), "{instance}");
    assert_eq!(readable_by_others(&s.data), Vec::<String>::new());
}

/// Connections that say nothing: opened and left silent, or sending half
/// an HTTP/2 preface, or a request's head one byte at a time.
struct Starvers {
    silent: Vec<std::net::TcpStream>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    trickling: Option<std::thread::JoinHandle<()>>,
}

impl Starvers {
    fn open(
        addr: std::net::SocketAddr,
        silent: usize,
        half_preface: usize,
        trickling: usize,
        bodies: usize,
    ) -> Starvers {
        use std::io::Write;
        let connect = || std::net::TcpStream::connect(addr).expect("connect");
        let mut all: Vec<_> = (0..silent).map(|_| connect()).collect();
        for _ in 0..half_preface {
            let mut stream = connect();
            stream.write_all(b"PRI * HTTP/2.0\r\n\r\n").unwrap();
            all.push(stream);
        }
        let mut slow: Vec<_> = (0..trickling).map(|_| connect()).collect();
        for stream in &mut slow {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
        }
        // A whole head, then a body a byte at a time: a request in flight.
        for _ in 0..bodies {
            let mut stream = connect();
            let head = format!(
                "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\ntoken="
            );
            stream.write_all(head.as_bytes()).unwrap();
            slow.push(stream);
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let halt = stop.clone();
        let trickling = std::thread::spawn(move || {
            while !halt.load(std::sync::atomic::Ordering::Relaxed) {
                for stream in &mut slow {
                    let _ = stream.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Starvers {
            silent: all,
            stop,
            trickling: Some(trickling),
        }
    }

    /// How many of the silent ones the server has closed, waiting up to
    /// `within` for each.
    fn closed(&self, within: Duration) -> usize {
        use std::io::Read;
        let closed = |mut stream: &std::net::TcpStream| {
            let _ = stream.set_read_timeout(Some(within));
            let mut buffer = [0u8; 256];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        return false;
                    }
                    Err(_) => return true,
                }
            }
        };
        self.silent.iter().filter(|stream| closed(stream)).count()
    }
}

/// `deployflow router` with `flags`, serving the example app (started
/// here) on the scenario's public address.
struct RouterBinary {
    listen: std::net::SocketAddr,
    router: std::process::Child,
    upstream: std::process::Child,
}

impl RouterBinary {
    fn start(s: &Scenario, flags: &[&str]) -> RouterBinary {
        let port = common::scenario::quiet_addr().port();
        let upstream = std::process::Command::new(HELLO)
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let router = std::process::Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .args(["router", "--admin", &s.admin.to_string(), "--state-dir"])
            .arg(s.dir.path().join("router-under-attack"))
            .args(flags)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = RouterBinary {
            listen: s.listen,
            router,
            upstream,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(s.admin).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the router or the app did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let route = format!(
            r#"{{"listen":"{}","upstream":"127.0.0.1:{port}"}}"#,
            s.listen
        );
        let (status, _, answer) = request(
            s.admin,
            "PUT",
            "/routes/hello",
            &["X-Deployflow-Admin: 1", "Content-Type: application/json"],
            &route,
        );
        assert_eq!(status, 200, "{answer}");
        started
    }
}

impl Drop for RouterBinary {
    fn drop(&mut self) {
        let _ = self.router.kill();
        let _ = self.upstream.kill();
        let _ = self.router.wait();
        let _ = self.upstream.wait();
    }
}

impl Drop for Starvers {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.trickling.take() {
            let _ = thread.join();
        }
    }
}

/// The slowest of `count` answers to `ask`, each on a connection of its
/// own while the starvers hold theirs.
fn slowest(count: usize, mut ask: impl FnMut() -> u16) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..count {
        let started = Instant::now();
        assert_eq!(ask(), 200);
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    slowest
}

/// More silent, half-preface and trickling connections than an app's
/// router or the control plane accept cannot lock anyone out: at the cap
/// the connection idle longest is closed to make room, and every
/// connection without a request in flight is closed after the header
/// timeout. Sign-ins whose body trickles in are refused past the rate
/// limit before their body is read, and the few read time out.
#[test]
fn silent_and_trickling_connections_past_the_cap_lock_no_client_out() {
    const TOKEN: &str = "a-long-enough-token-for-starving";
    let mut s = Scenario::new();
    s.start_server_with_args(
        &["--max-connections", "50", "--header-timeout-ms", "3000"],
        &[("DEPLOYFLOW_TOKEN", TOKEN)],
    );
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let api = Starvers::open(s.api, 60, 10, 10, 60);
    let slowest_api = slowest(10, || {
        request(s.api, "GET", "/api/deployments", &[&bearer], "").0
    });
    assert!(
        slowest_api < Duration::from_secs(1),
        "the API took {slowest_api:?}"
    );

    let router = RouterBinary::start(
        &s,
        &["--max-connections", "50", "--header-timeout-ms", "3000"],
    );
    let app = Starvers::open(router.listen, 60, 10, 10, 0);
    let slowest_app = slowest(20, || request(router.listen, "GET", "/", &[], "").0);
    assert!(
        slowest_app < Duration::from_secs(1),
        "the app took {slowest_app:?}"
    );
    eprintln!("slowest answer past the cap: API {slowest_api:?}, app {slowest_app:?}");

    // Those the cap did not already close go at the header timeout.
    std::thread::sleep(Duration::from_millis(3_500));
    assert_eq!(
        api.closed(Duration::from_secs(2)),
        70,
        "API connections left open"
    );
    assert_eq!(
        app.closed(Duration::from_secs(2)),
        70,
        "app connections left open"
    );
}

/// What the server answers to `bytes` sent as they are: its status.
fn raw_status(addr: std::net::SocketAddr, bytes: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// The router never proxies to itself (its admin API through an app's
/// public port would let any client pause or reroute it), and a request
/// whose framing is the client's fault is a 400, not a 502.
#[test]
fn the_router_refuses_itself_as_an_upstream_and_malformed_requests_are_bad_requests() {
    let s = Scenario::new();
    let router = RouterBinary::start(&s, &[]);
    let admin_port = s.admin.port();
    for upstream in [
        s.admin.to_string(),
        format!("0.0.0.0:{admin_port}"),
        s.listen.to_string(),
    ] {
        let other = common::scenario::quiet_addr();
        let route = format!(r#"{{"listen":"{other}","upstream":"{upstream}"}}"#);
        let (status, _, answer) = request(
            s.admin,
            "PUT",
            "/routes/loop",
            &["X-Deployflow-Admin: 1", "Content-Type: application/json"],
            &route,
        );
        assert_eq!(status, 400, "upstream {upstream}: {answer}");
        assert!(answer.contains("own address"), "{answer}");
    }
    let canary = format!(
        r#"{{"listen":"{}","upstream":"127.0.0.1:9","canary":{{"upstream":"{}","percent":50}}}}"#,
        common::scenario::quiet_addr(),
        s.admin
    );
    let (status, _, answer) = request(
        s.admin,
        "PUT",
        "/routes/loop",
        &["X-Deployflow-Admin: 1", "Content-Type: application/json"],
        &canary,
    );
    assert_eq!(status, 400, "a canary upstream: {answer}");

    let app = router.listen;
    assert_eq!(
        raw_status(
            app,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ),
        200
    );
    assert_eq!(
        raw_status(
            app,
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"
        ),
        400
    );
    assert_eq!(
        raw_status(app, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
        400
    );
    assert_eq!(raw_status(app, b"GET / HTTP/1.0\r\n\r\n"), 200);
    assert_eq!(
        raw_status(
            app,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        ),
        400
    );
}

const FORM: &str = "Content-Type: application/x-www-form-urlencoded";

/// The session value a sign-in's answer sets.
fn session_of(head: &str) -> Option<String> {
    head.split("set-cookie: deployflow_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .map(str::to_string)
}

/// Sign-in takes only a token that cannot break a header, gives the
/// browser a revocable session value instead of the token (`Secure` over
/// TLS), and is rate limited; the open health check names no path.
#[test]
fn sign_in_is_hygienic_rate_limited_and_the_health_check_reveals_no_path() {
    const TOKEN: &str = "a-token-for-signing-in-tests";
    let mut open = Scenario::new();
    open.start_server();
    // No token: nothing to sign in to, and nothing sent is reflected.
    for body in [
        "token=x%3B%20Domain%3Devil.example%3B%20Max-Age%3D99",
        "token=a%0D%0ASet-Cookie%3A%20b%3Dc",
    ] {
        let (status, head, _) = request(open.api, "POST", "/login", &[FORM], body);
        assert_eq!(status, 303, "{head}");
        assert!(!head.contains("set-cookie"), "{head}");
    }
    let (status, _, health) = request(open.api, "GET", "/health", &[], "");
    assert_eq!(status, 200);
    let data = open.data.display().to_string();
    assert!(
        !health.contains("data_dir") && !health.contains(&data),
        "{health}"
    );

    let mut s = Scenario::new();
    s.start_server_with(&[("DEPLOYFLOW_TOKEN", TOKEN)]);
    let (status, head, _) = request(s.api, "POST", "/login", &[FORM], "token=a%3Bb%20c%0D%0A");
    assert_eq!(status, 400, "{head}");
    assert!(!head.contains("set-cookie"));
    let (status, head, _) = request(
        s.api,
        "POST",
        "/login",
        &[FORM, "X-Forwarded-Proto: https"],
        &format!("token={TOKEN}"),
    );
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("; secure"), "{head}");
    let session = session_of(&head).expect("a session cookie");
    assert_eq!(session.len(), 64, "{session}");
    assert!(!session.contains(TOKEN));
    let cookie = format!("Cookie: deployflow_session={session}");
    assert_eq!(request(s.api, "GET", "/api/status", &[&cookie], "").0, 200);
    let raw = format!("Cookie: deployflow_session={TOKEN}");
    assert_eq!(request(s.api, "GET", "/api/status", &[&raw], "").0, 401);
    // Over plain HTTP, no `Secure` (the browser would drop the cookie).
    let (_, head, _) = request(s.api, "POST", "/login", &[FORM], &format!("token={TOKEN}"));
    assert!(!head.contains("secure"), "{head}");
    // Signing out revokes every session issued before.
    let (status, _, _) = request(s.api, "POST", "/logout", &[&cookie], "");
    assert_eq!(status, 303);
    assert_eq!(request(s.api, "GET", "/api/status", &[&cookie], "").0, 401);

    // Guessing is slowed: a few tries, then 429 with when to come back.
    let statuses: Vec<u16> = (0..8)
        .map(|i| {
            request(
                s.api,
                "POST",
                "/login",
                &[FORM],
                &format!("token=guess-number-{i}-of-many"),
            )
            .0
        })
        .collect();
    assert!(statuses.contains(&401), "{statuses:?}");
    let (status, head, _) = request(s.api, "POST", "/login", &[FORM], &format!("token={TOKEN}"));
    assert_eq!(status, 429, "{statuses:?} then {head}");
    assert!(head.contains("retry-after: "), "{head}");
}
