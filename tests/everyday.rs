//! The commands people type in their first hour: ids by a short prefix or
//! `latest`, tables that show when and who, the public URL, the releases a
//! rollback can go back to, and a control plane that is never another
//! app's by accident.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::scenario::{Knobs, Scenario, text};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn a_deployment_is_named_by_a_unique_prefix_or_latest_and_bad_ones_say_why() {
    let s = Scenario::new().with_v1();
    s.release("v2", &Knobs::default());
    assert_eq!(code(&s.deploy("v2")), Some(0));
    let rows = s.json(&["history"]);
    let newest = rows[0]["id"].as_str().expect("an id").to_string();
    let short = rows[0]["short_id"]
        .as_str()
        .expect("a short id")
        .to_string();
    assert!(short.len() >= 8 && newest.starts_with(&short), "{short}");
    // The table shows the short form, and when each started.
    let table = text(&s.cli(&["history"]));
    assert!(table.contains(&format!("{short} ")), "{table}");
    assert!(table.contains("started"), "{table}");
    assert!(
        !table.contains(&newest),
        "the whole id in the table: {table}"
    );
    for typed in [short.as_str(), "latest", &newest[..short.len() + 2]] {
        let shown = s.json(&["show", typed]);
        assert_eq!(shown["deployment"]["id"], newest.as_str(), "{typed}");
    }
    let audit = s.cli(&["audit", &short]);
    assert_eq!(code(&audit), Some(0), "{}", text(&audit));
    // Too short, two matches, none: each says so, and changes nothing.
    let too_short = s.cli(&["show", &newest[..3]]);
    assert_eq!(code(&too_short), Some(2), "{}", text(&too_short));
    assert!(text(&too_short).contains("at least 4 characters"));
    let shared = common_prefix(&newest, rows[1]["id"].as_str().unwrap_or_default());
    if shared.len() >= 4 {
        let ambiguous = s.cli(&["show", &shared]);
        assert_eq!(code(&ambiguous), Some(2), "{}", text(&ambiguous));
        assert!(text(&ambiguous).contains("matches 2 deployments"));
    }
    let none = s.cli(&["approve", "ffffffff", "--reason", "x"]);
    assert_ne!(code(&none), Some(0), "{}", text(&none));
    assert!(
        text(&none).contains("no deployment ffffffff"),
        "{}",
        text(&none)
    );
}

fn common_prefix(a: &str, b: &str) -> String {
    a.chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

#[test]
fn status_gives_the_public_url_and_who_deployed_what_and_rollback_lists_its_choices() {
    let s = Scenario::new().with_v1();
    s.release("v2", &Knobs::default());
    // Nobody named in the environment: the system's name for this user.
    let out = s
        .command(&["deploy", "--release", "v2"])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .expect("deploy");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .expect("this user has a name");
    let status = s.json(&["status"]);
    assert_eq!(
        status[0]["url"],
        format!("http://{}/", s.listen).as_str(),
        "{status}"
    );
    assert_eq!(status[0]["live"]["deployed_by"], me.as_str(), "{status}");
    let shown = text(&s.cli(&["status"]));
    assert!(
        shown.contains(&format!("url http://{}/", s.listen)),
        "{shown}"
    );
    assert!(shown.contains(&format!("deployed by {me}")), "{shown}");
    // Figures in words: no `null ms`, durations as people read them.
    let metrics = text(&s.cli(&["metrics"]));
    assert!(!metrics.contains("null"), "{metrics}");
    assert!(metrics.contains("mean time to restore -"), "{metrics}");
    assert!(metrics.contains(" s, p90 "), "{metrics}");
    // What each instance wrote: the live release's, and the kept one's,
    // stopped.
    let live = s.cli(&["logs", "hello"]);
    assert_eq!(code(&live), Some(0), "{}", text(&live));
    assert!(
        text(&live).contains("hello v2 listening on"),
        "{}",
        text(&live)
    );
    assert!(
        !text(&live).contains("hello v1 listening on"),
        "{}",
        text(&live)
    );
    let kept = s.cli(&["logs", "hello", "--release", "v1", "--tail", "5"]);
    assert!(
        text(&kept).contains("hello v1 listening on"),
        "{}",
        text(&kept)
    );
    let unknown = s.cli(&["logs", "hello", "--release", "v9"]);
    assert_eq!(code(&unknown), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("has no v9 running or kept"),
        "{}",
        text(&unknown)
    );
    // What a rollback can go back to, with nothing changed.
    let list = s.cli(&["rollback", "hello", "--list"]);
    assert_eq!(code(&list), Some(0), "{}", text(&list));
    let listed = text(&list);
    assert!(listed.contains("hello: live v2"), "{listed}");
    assert!(listed.contains("retained v1"), "{listed}");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    // And the rollback says where it goes before it goes there.
    let back = s.cli(&["rollback", "hello", "--reason", "oops"]);
    assert_eq!(code(&back), Some(0), "{}", text(&back));
    assert!(
        text(&back).contains("hello: going back to v1"),
        "{}",
        text(&back)
    );
}

/// Two apps, each from its own directory, with no address given: the
/// second gets a control plane of its own beside the first one's, each
/// keeps its own log, and `stop` from each directory stops its own.
#[test]
fn two_apps_from_two_directories_each_get_their_own_control_plane_and_log() {
    let busy = std::net::TcpListener::bind("127.0.0.1:7070").is_err();
    assert!(
        !busy,
        "127.0.0.1:7070, the default control plane's address, is taken: stop what holds it"
    );
    let first = tempfile::tempdir().expect("a directory");
    let second = tempfile::tempdir().expect("a directory");
    let run = |dir: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .current_dir(dir)
            .env_remove("DEPLOYFLOW_SERVER")
            .env_remove("DEPLOYFLOW_DATA_DIR")
            .args(args)
            .output()
            .expect("run deployflow")
    };
    let started = run(first.path(), &["history"]);
    assert_eq!(code(&started), Some(0), "{}", text(&started));
    assert!(
        text(&started).contains("started a control plane at http://127.0.0.1:7070"),
        "{}",
        text(&started)
    );
    let beside = run(second.path(), &["history"]);
    let said = text(&beside);
    assert_eq!(code(&beside), Some(0), "{said}");
    assert!(
        said.contains("started a control plane at http://127.0.0.1:"),
        "{said}"
    );
    assert!(!said.contains("127.0.0.1:7070"), "{said}");
    // Each directory's commands reach its own: the second's again, by the
    // address its data dir recorded, starting nothing.
    let again = run(second.path(), &["history"]);
    assert!(
        !text(&again).contains("started a control plane"),
        "{}",
        text(&again)
    );
    for dir in [&first, &second] {
        let data = std::fs::canonicalize(dir.path().join(".deployflow")).expect("its data");
        assert!(data.join("serve.addr").exists(), "{}", data.display());
    }
    let stopped_second = run(second.path(), &["stop"]);
    assert_eq!(code(&stopped_second), Some(0), "{}", text(&stopped_second));
    assert!(
        !text(&stopped_second).contains("7070"),
        "{}",
        text(&stopped_second)
    );
    // The first's still answers at the default address.
    let still = run(first.path(), &["history"]);
    assert!(
        !text(&still).contains("started a control plane"),
        "{}",
        text(&still)
    );
    let stopped_first = run(first.path(), &["stop"]);
    assert!(
        text(&stopped_first).contains("the control plane at http://127.0.0.1:7070 stopped"),
        "{}",
        text(&stopped_first)
    );
}

#[test]
fn init_in_two_directories_gives_each_its_own_router_ports() {
    let ports = |dir: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .current_dir(dir)
            .arg("init")
            .output()
            .expect("run init");
        assert_eq!(code(&out), Some(0), "{}", text(&out));
        let config = std::fs::read_to_string(dir.join("deployflow.toml")).expect("the config");
        let port_of = |key: &str| {
            config
                .lines()
                .find(|l| l.starts_with(&format!("{key} = ")))
                .and_then(|l| l.split('"').nth(1))
                .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                .unwrap_or_else(|| panic!("no {key} in {config}"))
        };
        (port_of("listen"), port_of("admin"))
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (listen_a, admin_a) = ports(a.path());
    let (listen_b, admin_b) = ports(b.path());
    assert!(listen_a.ip().is_loopback() && admin_a.ip().is_loopback());
    assert_ne!(listen_a, listen_b);
    assert_ne!(admin_a, admin_b);
    assert_ne!(listen_a.port(), admin_a.port());
}

#[test]
fn a_deploy_whose_control_plane_is_killed_reconnects_and_prints_each_event_once() {
    let mut s = Scenario::new().with_v1();
    s.release("v2", &Knobs::gated());
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("manual_gate");
    s.kill_server();
    // The deploy finds no control plane, starts one, and it resumes the
    // deployment at its gate.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let approve = s.cli(&["approve", &id, "--reason", "after the restart"]);
        if code(&approve) == Some(0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", text(&approve));
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let out = deploy.wait_with_output().expect("deploy ends");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert!(printed.contains("lost the control plane"), "{printed}");
    for kind in ["deployment_requested", "green_healthy", "manually_approved"] {
        let times = printed
            .lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(kind))
            .count();
        assert_eq!(times, 1, "{kind} printed {times} times:\n{printed}");
    }
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
}
