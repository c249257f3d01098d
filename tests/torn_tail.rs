//! A crash in the middle of a write leaves the log's last commit torn. When
//! no append had been acknowledged for it, opening drops it and says so;
//! when it held acknowledged events, the log is refused as damaged.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{deployflow, write_log};
use deployflow::events::{Event, EventStore, RawLog, StreamId};

/// A log whose last commit is torn; `acknowledged` says whether the seal
/// (the witness of acknowledged appends) covers that commit.
fn torn_log(acknowledged: bool) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let before = write_log(dir.path(), 3);
    let seal = dir.path().join("events.head");
    let sealed_before = std::fs::read(&seal).unwrap();
    {
        let store = EventStore::open(dir.path()).unwrap();
        let failed = Event::Failed {
            reason: "the last words".into(),
        };
        store
            .append_blocking(StreamId::new(), 0, &[failed.clone(), failed])
            .unwrap();
    }
    if !acknowledged {
        // As if the crash came before the append was acknowledged.
        std::fs::write(&seal, sealed_before).unwrap();
    }
    let log = RawLog::open(dir.path()).unwrap();
    let (first, segment) = log.last_segment().unwrap().unwrap();
    assert_eq!(first, before);
    log.tree()
        // The last record's bytes stop short, as a torn write leaves them.
        .insert(first.to_be_bytes(), &segment[..segment.len() - 7])
        .unwrap();
    log.sled().flush().unwrap();
    (dir, before)
}

fn serve_stderr(data_dir: &Path) -> (Option<i32>, String) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ended = None;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            ended = Some(status.code());
            break;
        }
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if ended.is_none() {
        std::thread::sleep(Duration::from_millis(200));
        let _ = child.kill();
    }
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    (ended.flatten(), stderr)
}

#[test]
fn a_torn_unacknowledged_last_commit_is_dropped_and_said() {
    let (dir, before) = torn_log(false);
    let (ended, stderr) = serve_stderr(dir.path());
    assert_eq!(ended, None, "serve did not start: {stderr}");
    assert!(
        stderr.contains(&format!(
            "the log's last commit (from record {before}) was torn by a crash before it was acknowledged"
        )),
        "{stderr}"
    );
    let out = deployflow(dir.path(), &["verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Whole again (the control plane may have appended since).
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report["first_bad"].is_null(), "{report}");
}

#[test]
fn a_torn_commit_that_was_acknowledged_is_damage_not_a_recovery() {
    let (dir, _) = torn_log(true);
    let (ended, stderr) = serve_stderr(dir.path());
    assert_eq!(ended, Some(5), "{stderr}");
    assert!(!stderr.contains("torn by a crash"), "{stderr}");
}
