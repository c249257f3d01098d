//! Opening a log after a crash in the middle of a write: a last commit that
//! is torn (its bytes stop short, or do not check out) and that holds no
//! acknowledged record is dropped, and the store says so. One that holds an
//! acknowledged record is damage, which `open` refuses as before: recovery
//! never hides the loss of an event whose append returned.

use serde::Serialize;

use super::error::StoreError;
use super::raw_log::{INDEX_PREFIX, RawLog};
use super::record::RecordView;
use super::seal::{self, SealState};
use super::segment;

/// What a recovery dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The first sequence of the torn commit; the log now ends before it.
    pub from_seq: u64,
    /// How many records it held, whole or not.
    pub records: u64,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the log's last commit (from record {}) was torn by a crash before it was \
             acknowledged; it was dropped and the log ends at record {}",
            self.from_seq,
            self.from_seq.saturating_sub(1)
        )
    }
}

/// Drops a torn, unacknowledged last commit; `None` when there is none.
pub fn torn_tail(log: &RawLog) -> Result<Option<Recovery>, StoreError> {
    let Some((first_seq, bytes)) = log.last_segment()? else {
        return Ok(None);
    };
    let ranges: Vec<_> = segment::ranges(&bytes).collect();
    let whole = !ranges.is_empty()
        && ranges.iter().enumerate().all(|(i, range)| {
            range.as_ref().is_ok_and(|range| {
                RecordView::parse(&bytes[range.clone()]).is_ok_and(|view| {
                    view.header.seq == first_seq + i as u64 && view.hash_matches()
                })
            })
        });
    if whole {
        return Ok(None);
    }
    let acknowledged = match seal::read(&log.seal_path())? {
        SealState::Intact(seal) => seal.count,
        // Without a seal nothing can show the commit was never acknowledged.
        _ => return Ok(None),
    };
    if first_seq < acknowledged {
        return Ok(None);
    }
    let tree = log.tree();
    let storage = |source| StoreError::Storage {
        doing: "dropping a torn commit",
        source,
    };
    // Its stream-index entries point at sequences past the new end.
    let mut doomed = vec![first_seq.to_be_bytes().to_vec()];
    for entry in tree.scan_prefix([INDEX_PREFIX]) {
        let (key, value) = entry.map_err(storage)?;
        let seq = value
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .unwrap_or(u64::MAX);
        if seq >= first_seq {
            doomed.push(key.to_vec());
        }
    }
    let mut batch = sled::Batch::default();
    for key in doomed {
        batch.remove(key);
    }
    tree.apply_batch(batch).map_err(storage)?;
    log.sled().flush().map_err(storage)?;
    Ok(Some(Recovery {
        from_seq: first_seq,
        records: ranges.len().max(1) as u64,
    }))
}
