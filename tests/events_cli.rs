//! `deployflow events`: the raw log as JSON lines.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use common::{deployflow, write_log};
use deployflow::events::EventKind;
use strum::IntoEnumIterator;

#[test]
fn every_record_is_one_json_line_with_its_envelope_and_decoded_payload() {
    let dir = tempfile::tempdir().unwrap();
    let count = write_log(dir.path(), 2);
    let out = deployflow(dir.path(), &["events"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, count);
    let kinds = EventKind::iter().count();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], i as u64);
        assert_eq!(line["version"], (i % kinds) as u64);
        assert_eq!(line["schema_version"], 1);
        for field in [
            "stream",
            "event_id",
            "recorded_at",
            "prev_hash",
            "hash",
            "kind",
        ] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
    }
    assert_eq!(lines[0]["prev_hash"], "0".repeat(64));
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    assert_eq!(lines[0]["kind"], "deployment_requested");
    assert_eq!(lines[0]["event"]["app"], "hello");
    assert_eq!(lines[0]["event"]["rollback_to"], "v1");
}

#[test]
fn from_starts_at_a_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let count = write_log(dir.path(), 1);
    let out = deployflow(dir.path(), &["events", "--from", "5"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count() as u64, count - 5);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 5);
}

#[test]
fn a_log_in_use_by_another_process_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 1);
    let _held = deployflow::events::EventStore::open(dir.path()).unwrap();
    let out = deployflow(dir.path(), &["events"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another deployflow process"),
        "{err}"
    );
}

#[test]
fn follow_prints_the_log_and_keeps_waiting_for_more() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let count = write_log(dir.path(), 1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["events", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for seq in 0..count {
        let line: serde_json::Value =
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(line["seq"], seq);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "--follow exited");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_sequence_past_the_end_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 1);
    for from in ["1000", "18446744073709551615"] {
        let out = deployflow(dir.path(), &["events", "--from", from]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn events_without_a_log_is_an_error_not_a_new_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = deployflow(&dir.path().join("nothing"), &["events"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event log"));
    assert!(!dir.path().join("nothing").exists());
}

/// While the control plane holds the log, `verify` walks it there and
/// `events` streams it from there, from any directory (`--server`);
/// `stop` ends the control plane cleanly while traffic keeps flowing.
#[test]
fn verify_and_events_work_while_serve_runs_and_stop_stops_it() {
    let mut s = common::scenario::Scenario::new();
    s.start_server();
    s.release("v1", &common::scenario::Knobs::default());
    assert_eq!(s.deploy("v1").status.code(), Some(0));
    let out = s.cli(&["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        common::scenario::text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ok: "),
        "{}",
        common::scenario::text(&out)
    );
    let json = s.json(&["verify"]);
    assert!(json["checked"].as_u64().unwrap() > 10, "{json}");

    // From elsewhere: no log there, the control plane named.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .current_dir(elsewhere.path())
        .args(["--server", &format!("http://{}", s.api), "events"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        common::scenario::text(&out)
    );
    let lines = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
    assert_eq!(lines, json["checked"].as_u64().unwrap());

    let out = s.cli(&["stop"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        common::scenario::text(&out)
    );
    assert!(
        s.server_ended_within(std::time::Duration::from_secs(10)),
        "serve still runs"
    );
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    // Stopped, the log is free: verify reads it here.
    assert_eq!(s.cli(&["verify"]).status.code(), Some(0));
}
