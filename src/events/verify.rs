//! `verify`: walks every record in order and checks, for each, that it is
//! stored under the next sequence, that its CRC holds, that its hash is the
//! hash of its content, and that it chains to the record before; then that
//! the log reaches the seal, the last record acknowledged.

use serde::Serialize;

use super::Hash;
use super::raw_log::RawLog;
use super::record::RecordView;
use super::seal::{self, SealState};

/// The first place the log is not whole, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyFailure {
    pub seq: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records found whole, from sequence 0, before the first failure.
    pub checked: u64,
    /// How many records the seal says were acknowledged, when it is readable.
    pub acknowledged: Option<u64>,
    pub first_bad: Option<VerifyFailure>,
}

impl VerifyReport {
    /// The report for a log whose storage cannot even be opened.
    pub fn unreadable(reason: String) -> Self {
        Self {
            checked: 0,
            acknowledged: None,
            first_bad: Some(VerifyFailure { seq: 0, reason }),
        }
    }

    pub fn is_whole(&self) -> bool {
        self.first_bad.is_none()
    }
}

pub fn verify(log: &RawLog) -> VerifyReport {
    let (checked, last_hash, mut first_bad) = walk(log);
    let seal = match seal::read(&log.seal_path()) {
        Ok(seal) => seal,
        Err(e) => {
            return VerifyReport {
                checked,
                acknowledged: None,
                first_bad: first_bad.or(Some(VerifyFailure {
                    seq: checked,
                    reason: e.to_string(),
                })),
            };
        }
    };
    let acknowledged = match seal {
        SealState::Intact(seal) => Some(seal.count),
        _ => None,
    };
    if first_bad.is_none() {
        first_bad = check_seal(seal, checked, last_hash, log);
    }
    VerifyReport {
        checked,
        acknowledged,
        first_bad,
    }
}

fn walk(log: &RawLog) -> (u64, Hash, Option<VerifyFailure>) {
    let mut expected_seq = 0u64;
    let mut prev_hash = Hash::ZERO;
    let fail = |seq, reason: String| Some(VerifyFailure { seq, reason });
    for entry in log.records(0) {
        let (seq, bytes) = match entry {
            Ok(entry) => entry,
            Err(e) => return (expected_seq, prev_hash, fail(expected_seq, e.to_string())),
        };
        if seq != expected_seq {
            let reason = format!("records {expected_seq}..{seq} are missing");
            return (expected_seq, prev_hash, fail(expected_seq, reason));
        }
        let view = match RecordView::parse(&bytes) {
            Ok(view) => view,
            Err(e) => return (expected_seq, prev_hash, fail(seq, e.to_string())),
        };
        let header = view.header;
        let problem = if header.seq != seq {
            Some(format!("it says it is record {}", header.seq))
        } else if header.prev_hash != prev_hash {
            Some("its previous hash does not match the record before it".to_string())
        } else if !view.hash_matches() {
            Some("its hash does not match its content".to_string())
        } else {
            None
        };
        if let Some(reason) = problem {
            return (expected_seq, prev_hash, fail(seq, reason));
        }
        prev_hash = header.hash;
        expected_seq += 1;
    }
    (expected_seq, prev_hash, None)
}

fn check_seal(seal: SealState, count: u64, last_hash: Hash, log: &RawLog) -> Option<VerifyFailure> {
    let path = log.seal_path();
    match seal {
        SealState::Missing if count == 0 => None,
        SealState::Missing => Some(VerifyFailure {
            seq: count,
            reason: format!(
                "the seal {} is missing: lost records at the end could go unnoticed",
                path.display()
            ),
        }),
        SealState::Damaged => Some(VerifyFailure {
            seq: count,
            reason: format!("the seal {} is damaged", path.display()),
        }),
        SealState::Intact(seal) if seal.count > count => Some(VerifyFailure {
            seq: count,
            reason: format!(
                "{} records were acknowledged but the log ends after {count}",
                seal.count
            ),
        }),
        SealState::Intact(seal) if seal.count == count && seal.last_hash != last_hash => {
            Some(VerifyFailure {
                seq: count.saturating_sub(1),
                reason: "the last record is not the one acknowledged".into(),
            })
        }
        SealState::Intact(seal) if seal.count > 0 && seal.count < count => {
            // The seal lags after a crash between a flush and its update: the
            // record it names must still be the one acknowledged.
            let seq = seal.count - 1;
            let hash = log
                .record(seq)
                .ok()
                .flatten()
                .and_then(|bytes| RecordView::parse(&bytes).ok().map(|v| v.header.hash));
            (hash != Some(seal.last_hash)).then(|| VerifyFailure {
                seq,
                reason:
                    "it is not the record that was acknowledged (its hash differs from the seal's)"
                        .into(),
            })
        }
        SealState::Intact(_) => None,
    }
}
