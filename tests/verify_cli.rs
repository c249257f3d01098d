//! `deployflow verify` on real logs and on damaged copies of them: every
//! damage is reported with exit 5 and the first bad sequence, never a panic,
//! and never a silent change.

mod common;

use std::path::Path;

use common::{copy_dir, deployflow, write_log};
use deployflow::events::RawLog;
use deployflow::events::record::{self, RecordView};

const DEPLOYMENTS: usize = 10;

fn log() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let count = write_log(dir.path(), DEPLOYMENTS);
    (dir, count)
}

fn damaged_copy(original: &Path, damage: impl FnOnce(&RawLog)) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(original, copy.path());
    let log = RawLog::open(copy.path()).unwrap();
    damage(&log);
    log.sled().flush().unwrap();
    copy
}

/// Where record `seq` is: its commit's key, the commit's segment, and the
/// record's byte range in it.
fn locate(log: &RawLog, seq: u64) -> (u64, Vec<u8>, std::ops::Range<usize>) {
    let commit = log.commit_of(seq).unwrap().unwrap();
    let range = commit.range_of(seq).unwrap();
    (commit.first_seq, commit.segment().to_vec(), range)
}

/// Rewrites record `seq` inside its segment, as damage on disk would.
fn rewrite_record(log: &RawLog, seq: u64, change: impl FnOnce(&[u8]) -> Vec<u8>) {
    let (key, segment, range) = locate(log, seq);
    let mut bytes = segment[..range.start].to_vec();
    bytes.extend(change(&segment[range.clone()]));
    bytes.extend_from_slice(&segment[range.end..]);
    log.tree().insert(key.to_be_bytes(), bytes).unwrap();
}

/// Removes the whole segment (the commit) that holds record `seq`.
fn remove_commit_of(log: &RawLog, seq: u64) -> u64 {
    let (key, segment, _) = locate(log, seq);
    log.tree().remove(key.to_be_bytes()).unwrap();
    deployflow::events::segment::ranges(&segment).count() as u64
}

fn verify_json(dir: &Path) -> (Option<i32>, serde_json::Value) {
    let out = deployflow(dir, &["verify", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {stdout} {:?}", out.stderr));
    (out.status.code(), report)
}

#[test]
fn a_whole_log_verifies_with_its_count() {
    let (dir, count) = log();
    let out = deployflow(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{count} records checked")), "{text}");
    let (code, report) = verify_json(dir.path());
    assert_eq!(code, Some(0));
    assert_eq!(report["checked"], count);
    assert_eq!(report["acknowledged"], count);
    assert!(report["first_bad"].is_null());
}

#[test]
fn a_flipped_byte_in_any_record_is_found_at_its_sequence() {
    let (dir, count) = log();
    let probe_records = [0, 1, count / 3, count / 2, count - 2, count - 1];
    for seq in probe_records {
        let len = {
            let log = RawLog::open(dir.path()).unwrap();
            log.record(seq).unwrap().unwrap().len()
        };
        // The CRC, each header field, and the payload's first, middle and last byte.
        let positions = [
            0,
            3,
            4,
            5,
            12,
            13,
            30,
            40,
            55,
            62,
            66,
            70,
            100,
            131,
            len / 2 + 66,
            len - 1,
        ];
        for pos in positions {
            let copy = damaged_copy(dir.path(), |log| {
                rewrite_record(log, seq, |record| {
                    let mut bytes = record.to_vec();
                    bytes[pos] ^= 0x20;
                    bytes
                })
            });
            let (code, report) = verify_json(copy.path());
            assert_eq!(code, Some(5), "record {seq} byte {pos}: {report}");
            assert_eq!(
                report["first_bad"]["seq"], seq,
                "record {seq} byte {pos}: {report}"
            );
            assert_eq!(report["checked"], seq, "record {seq} byte {pos}");
        }
    }
}

#[test]
fn a_truncated_last_record_is_found() {
    let (dir, count) = log();
    let last = count - 1;
    for keep in [0, 1, 4, 60, 130, 131, 140] {
        let copy = damaged_copy(dir.path(), |log| {
            // The record's bytes stop short, as a torn write leaves them.
            let (key, segment, range) = locate(log, last);
            log.tree()
                .insert(key.to_be_bytes(), &segment[..range.start + keep])
                .unwrap();
        });
        let (code, report) = verify_json(copy.path());
        assert_eq!(code, Some(5), "kept {keep} bytes: {report}");
        assert_eq!(report["first_bad"]["seq"], last);
    }
}

#[test]
fn a_lost_tail_is_found_through_the_seal() {
    let (dir, count) = log();
    let mut lost = 0;
    let copy = damaged_copy(dir.path(), |log| lost = remove_commit_of(log, count - 1));
    let out = deployflow(copy.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{count} records were acknowledged but the log ends after {}",
            count - lost
        )),
        "{text}"
    );
}

#[test]
fn a_missing_record_in_the_middle_is_a_gap() {
    let (dir, _) = log();
    let mut first = 0;
    let copy = damaged_copy(dir.path(), |log| {
        first = locate(log, 50).0;
        remove_commit_of(log, 50);
    });
    let (code, report) = verify_json(copy.path());
    assert_eq!(code, Some(5));
    assert_eq!(report["first_bad"]["seq"], first);
}

#[test]
fn a_rewritten_record_with_a_fresh_crc_and_hash_breaks_the_chain() {
    let (dir, _) = log();
    let copy = damaged_copy(dir.path(), |log| {
        rewrite_record(log, 40, |record| {
            let view = RecordView::parse(record).unwrap();
            let mut payload = view.payload.to_vec();
            let last = payload.len() - 1;
            payload[last] ^= 1;
            record::encode(&view.header, &payload).0
        })
    });
    let (code, report) = verify_json(copy.path());
    assert_eq!(code, Some(5), "{report}");
    // Record 40 is self-consistent now; the next one no longer chains to it.
    assert_eq!(report["first_bad"]["seq"], 41, "{report}");
}

#[test]
fn damage_to_the_storage_files_is_detected_or_harmless_never_a_panic() {
    let (dir, _) = log();
    let original_events = deployflow(dir.path(), &["events"]).stdout;
    let db = dir.path().join("events").join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    let samples = 40;
    let mut detected = 0;
    for i in 0..samples {
        let pos = (i * len / samples + 17 * i) % len;
        for truncate in [false, true] {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(dir.path(), copy.path());
            let path = copy.path().join("events").join("db");
            if truncate {
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                file.set_len(pos).unwrap();
            } else {
                let mut bytes = std::fs::read(&path).unwrap();
                bytes[pos as usize] ^= 0x5a;
                std::fs::write(&path, bytes).unwrap();
            }
            let out = deployflow(copy.path(), &["verify"]);
            match out.status.code() {
                Some(5) => detected += 1,
                Some(0) => {
                    // Only damage to unused space may pass, and then the log
                    // must read exactly as before.
                    let events = deployflow(copy.path(), &["events"]);
                    assert_eq!(events.status.code(), Some(0));
                    assert!(
                        events.stdout == original_events,
                        "byte {pos} changed the log silently"
                    );
                }
                other => panic!(
                    "byte {pos} (truncate: {truncate}) gave exit {other:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        }
    }
    assert!(detected > samples / 2, "only {detected} damages detected");
}

#[test]
fn verify_without_a_log_is_an_error_not_a_new_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = deployflow(&dir.path().join("nothing"), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event log"));
    assert!(!dir.path().join("nothing").exists());
}

#[test]
fn reading_a_damaged_log_is_an_error_naming_the_record_not_a_panic() {
    let (dir, count) = log();
    let copy = damaged_copy(dir.path(), |log| {
        rewrite_record(log, 30, |record| {
            let mut bytes = record.to_vec();
            bytes[140] ^= 0xff;
            bytes
        })
    });
    let out = deployflow(copy.path(), &["events"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record 30 is corrupt"), "{err}");
    // Everything before the damage was printed.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 30);
    assert!(count > 30);
}

#[test]
fn an_empty_commit_is_damage_not_the_end_of_the_log() {
    let (dir, count) = log();
    let copy = damaged_copy(dir.path(), |log| {
        let (key, _, _) = locate(log, count - 1);
        log.tree().insert(key.to_be_bytes(), &[] as &[u8]).unwrap();
    });
    let (code, report) = verify_json(copy.path());
    assert_eq!(code, Some(5), "{report}");
    // Opening for reads or writes refuses it too, rather than starting over.
    let out = deployflow(copy.path(), &["events"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no records"));
}

#[test]
fn a_commit_overlapping_the_one_before_is_found() {
    let (dir, _) = log();
    let copy = damaged_copy(dir.path(), |log| {
        // A copy of the commit holding record 40, stored one record later.
        let (key, segment, _) = locate(log, 40);
        log.tree().insert((key + 1).to_be_bytes(), segment).unwrap();
    });
    let (code, report) = verify_json(copy.path());
    assert_eq!(code, Some(5), "{report}");
    let reason = report["first_bad"]["reason"].as_str().unwrap();
    assert!(reason.contains("inside the commit before it"), "{reason}");
}
