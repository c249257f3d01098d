//! `verify`: walks every record in order and checks, for each, that it is
//! stored under the next sequence, that its CRC holds, that its hash is the
//! hash of its content, and that it chains to the record before; then that
//! the log reaches the seal, the last record acknowledged.

use serde::Serialize;

use super::Hash;
use super::raw_log::RawLog;
use super::record::RecordView;
use super::seal::{self, SealState};
use super::store::record_hash;

/// The first place the log is not whole, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VerifyFailure {
    pub seq: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    let (checked, last_hash, walk_failure) = walk(log);
    let path = log.seal_path();
    let seal = seal::read(&path);
    let acknowledged = match &seal {
        Ok(SealState::Intact(seal)) => Some(seal.count),
        _ => None,
    };
    let first_bad = walk_failure.or_else(|| {
        let seal = match seal {
            Ok(seal) => seal,
            Err(e) => {
                return Some(VerifyFailure {
                    seq: checked,
                    reason: e.to_string(),
                });
            }
        };
        seal::check(&path, seal, checked, last_hash, |seq| record_hash(log, seq))
            .err()
            .map(|mismatch| VerifyFailure {
                seq: mismatch.seq,
                reason: mismatch.reason,
            })
    });
    VerifyReport {
        checked,
        acknowledged,
        first_bad,
    }
}

/// Walks the records from 0: how many are whole, the last whole one's hash,
/// and the first failure.
fn walk(log: &RawLog) -> (u64, Hash, Option<VerifyFailure>) {
    let mut expected_seq = 0u64;
    let mut prev_hash = Hash::ZERO;
    for entry in log.records(0) {
        let failure = match entry {
            Err(e) => Some(VerifyFailure {
                seq: e.seq().unwrap_or(expected_seq),
                reason: e.to_string(),
            }),
            Ok((seq, _)) if seq != expected_seq => Some(VerifyFailure {
                seq: expected_seq,
                reason: format!("records {expected_seq}..{seq} are missing"),
            }),
            Ok((seq, bytes)) => match check_record(&bytes, seq, prev_hash) {
                Ok(hash) => {
                    prev_hash = hash;
                    expected_seq += 1;
                    None
                }
                Err(reason) => Some(VerifyFailure { seq, reason }),
            },
        };
        if failure.is_some() {
            return (expected_seq, prev_hash, failure);
        }
    }
    (expected_seq, prev_hash, None)
}

/// Checks one record in place; returns its hash for the next to chain to.
fn check_record(bytes: &[u8], seq: u64, prev_hash: Hash) -> Result<Hash, String> {
    let view = RecordView::parse(bytes).map_err(|e| e.to_string())?;
    let header = view.header;
    if header.seq != seq {
        Err(format!("it says it is record {}", header.seq))
    } else if header.prev_hash != prev_hash {
        Err("its previous hash does not match the record before it".into())
    } else if !view.hash_matches() {
        Err("its hash does not match its content".into())
    } else {
        Ok(header.hash)
    }
}
