//! A crash loses no acknowledged event: a writer process appending from
//! several threads is killed with SIGKILL at a random moment, again and again
//! on the same log; every append it reported as returned must be there, and
//! the log must verify whole and take appends again.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deployflow::events::{Event, EventStore, StreamId, verify};

const CHILD_ENV: &str = "DEPLOYFLOW_CRASH_CHILD_DIR";
const WRITERS: usize = 8;

/// The writer side, run in a child process by `acknowledged_appends_survive_sigkill`.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = EventStore::open(std::path::Path::new(&dir)).unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let stream = StreamId::new();
                for version in 0.. {
                    let event = Event::Failed {
                        reason: format!("{stream}/{version}"),
                    };
                    let appended = store.append_blocking(stream, version, &[event]).unwrap();
                    // Printed only after the append returned: an acknowledgement.
                    println!("ACK {} {stream} {version}", appended.first_seq);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: HashMap<u64, String> = HashMap::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let acks_before_kill = 50 + (seed % 400) as usize;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let mut acks = 0;
        while acks < acks_before_kill && started.elapsed() < Duration::from_secs(60) {
            let Some(Ok(line)) = lines.next() else { break };
            if record_ack(&line, &mut acknowledged) {
                acks += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Lines the child printed before it died were acknowledged too.
        for line in lines.map_while(Result::ok) {
            record_ack(&line, &mut acknowledged);
        }
        assert!(acks > 0, "round {round}: the writer acknowledged nothing");

        let store = EventStore::open(dir.path()).unwrap();
        for (seq, reason) in &acknowledged {
            let envelope = store.read_from(*seq).next().unwrap().unwrap();
            assert_eq!(envelope.seq, *seq);
            assert_eq!(
                envelope.event,
                Event::Failed {
                    reason: reason.clone()
                },
                "round {round}: acknowledged record {seq} differs"
            );
        }
        let report = verify(&store.raw().unwrap());
        assert!(report.is_whole(), "round {round}: {report:?}");
        assert!(report.checked >= acknowledged.len() as u64);
        let stream = StreamId::new();
        store
            .append_blocking(
                stream,
                0,
                &[Event::Failed {
                    reason: "after".into(),
                }],
            )
            .unwrap();
    }
}

fn record_ack(line: &str, acknowledged: &mut HashMap<u64, String>) -> bool {
    let mut parts = line.split(' ');
    if parts.next() != Some("ACK") {
        return false;
    }
    let (Some(seq), Some(stream), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(seq) = seq.parse() else { return false };
    acknowledged.insert(seq, format!("{stream}/{version}"));
    true
}

/// A full disk stops the log's writer: nothing acknowledged is lost, the
/// control plane's health check says why (503) instead of "ok", and the
/// deployment whose next event could not be written is neither failed nor
/// left holding its app's lock: once space is freed the writer opens the
/// log again by itself, and the deployment goes on from what the log holds.
#[test]
fn a_full_disk_is_reported_and_once_space_is_freed_the_stuck_deployment_goes_on() {
    use common::scenario::{HELLO, Knobs, Scenario, text};
    let mut s = Scenario::new();
    std::fs::create_dir_all(&s.data).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&s.data)
        .status()
        .expect("run mount");
    assert!(
        mounted.success(),
        "the full-disk test mounts a 6 MiB tmpfs: it needs root"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(s.data.clone());
    // What the test frees later, as a user deletes a log file.
    let ballast = s.data.join("ballast");
    std::fs::write(&ballast, vec![7u8; 2 << 20]).unwrap();
    s.start_server();
    s.release("v1", &Knobs::default());
    let out = s.deploy("v1");
    assert!(out.status.success(), "{}", text(&out));

    // v2's instance stays unready until the test says so: the deployment
    // is in flight, waiting for green's health, while the disk fills.
    let go = s.dir.path().join("go");
    s.release(
        "v2",
        &Knobs {
            command: Some(format!(
                "sh -c 'until test -e {}; do sleep 0.05; done; exec {HELLO}'",
                go.display()
            )),
            ..Knobs::default()
        },
    );
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        config.replace("deadline_s = 5", "deadline_s = 600"),
    )
    .unwrap();
    let deploy = s.deploy_in_background("v2");
    let id = s.wait_in_progress("prepare");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.events(&id).iter().any(|e| e["kind"] == "green_started") {
        assert!(Instant::now() < deadline, "green never started");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Another app's requests fill the disk: each keeps its (large) config
    // and is rejected at once, its requirements missing.
    let filler = s.dir.path().join("filler.toml");
    let padding = format!("# {}\n", "x".repeat(100)).repeat(1000);
    std::fs::write(
        &filler,
        format!(
            "{padding}{}",
            config
                .replace("name = \"hello\"", "name = \"filler\"")
                .replace("code-v1/REQUIREMENTS.md", "nowhere.md")
                .replace("code-v2/REQUIREMENTS.md", "nowhere.md")
                .replace(
                    &s.listen.to_string(),
                    &common::scenario::quiet_addr().to_string()
                )
        ),
    )
    .unwrap();
    // A filler the disk stops after its first event waits for space, as
    // v2 will: its command is left following it.
    let fill = |i: usize| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .arg("--config")
            .arg(&filler)
            .arg("--data-dir")
            .arg(&s.data)
            .args(["--server", &format!("http://{}", s.api)])
            .args(["deploy", "--release", &format!("r{i}")])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(child.wait_with_output().unwrap())
    };
    let health = |s: &Scenario| common::http::request(s.api, "GET", "/api/health", &[], "");
    let mut accepted = 0;
    let mut waiting = 0;
    let mut stopped = String::new();
    for i in 0..200 {
        let out = fill(i);
        match &out {
            Some(out) if out.status.code() == Some(2) => {
                accepted += 1;
                continue;
            }
            // Refused for want of space, nothing recorded (exit 1).
            Some(out) => assert_eq!(out.status.code(), Some(1), "{}", text(out)),
            None => waiting = 1,
        }
        // Either way the health check says why.
        for _ in 0..50 {
            let (status, _, body) = health(&s);
            if status == 503 {
                stopped = body;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!stopped.is_empty(), "{:?}", out.as_ref().map(text));
        break;
    }
    assert!(
        stopped.contains("the disk holding the event log is full"),
        "{accepted} accepted, health: {stopped}"
    );
    assert!(accepted > 0);
    eprintln!(
        "{accepted} requests before the disk filled ({waiting} left waiting for space); health said {stopped}"
    );

    // Green turns healthy: the Driver's next event cannot be written. It
    // does not spend its restarts nor fail the deployment; it waits.
    std::fs::write(&go, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let parked = |s: &Scenario| {
        s.serve_log()
            .lines()
            .any(|line| line.contains("resumes once it can") && line.contains(id.as_str()))
    };
    while !parked(&s) {
        assert!(
            Instant::now() < deadline,
            "the Driver never met the full disk: {}",
            s.serve_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(health(&s).0, 503, "still full");
    assert!(!s.serve_log().contains("failing the deployment"));

    // Space freed: the writer opens the log again by itself, with no
    // restart, and the deployment goes on to its end.
    let freed = Instant::now();
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body) = health(&s);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer stayed stopped: {body}\n{}",
            s.serve_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let writable = freed.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = loop {
        let rows = s.json(&["history", "--app", "hello", "--limit", "1"]);
        if rows[0]["status"] != "in_progress" {
            break rows[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "v2 never finished: {rows}\n{}",
            s.serve_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "space freed: the log took appends again after {writable:?}, v2 ended after {:?}",
        freed.elapsed()
    );
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["status"], "promoted", "{row}\n{}", s.serve_log());
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let out = deploy.wait_with_output().unwrap();
    eprintln!("the deploy command following v2 ended with {}", text(&out));

    // Nothing acknowledged was lost: every accepted request is there, the
    // log verifies whole, and the app's lock is free for the next release.
    // Every filler recorded ends rejected, the one that waited for space too.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fillers = loop {
        let fillers = s.json(&["history", "--app", "filler", "--limit", "1000"]);
        let rows = fillers.as_array().cloned().unwrap_or_default();
        if rows.iter().all(|row| row["status"] != "in_progress") {
            break rows;
        }
        assert!(Instant::now() < deadline, "a filler never ended: {fillers}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(fillers.len(), accepted + waiting);
    assert!(
        fillers.iter().all(|row| row["status"] == "rejected"),
        "{fillers:?}"
    );
    let out = s.cli(&["verify"]);
    assert!(out.status.success(), "{}", text(&out));
    s.release("v3", &Knobs::default());
    let out = s.deploy("v3");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.serving().as_deref(), Some("hello from v3"));
    s.kill_server();
}
