use std::path::PathBuf;

use super::StreamId;

/// A record whose bytes are not a whole, intact record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is {len} bytes, shorter than its header")]
    Truncated { len: usize },
    #[error("CRC mismatch: stored {stored:08x}, computed {actual:08x}")]
    Crc { stored: u32, actual: u32 },
    #[error("unknown record format {0}")]
    Format(u8),
    #[error("timestamp out of range ({secs} s, {nanos} ns)")]
    Timestamp { secs: i64, nanos: u32 },
}

/// A payload that cannot be turned into an `Event`, or back.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode event: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("cannot decode event: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("no upcaster from schema version {from}")]
    NoUpcaster { from: u16 },
    #[error("upcasting from schema version {from} failed: {message}")]
    Upcast { from: u16, message: String },
    #[error(
        "written by a newer deployflow (schema version {schema}, this one reads up to {current}): {source}"
    )]
    Newer {
        schema: u16,
        current: u16,
        source: rmp_serde::decode::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the event log at {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error(
        "the event log at {path} is in use by another deployflow process (a running `deployflow serve`?)"
    )]
    Locked { path: PathBuf },
    #[error("event log storage error while {doing}: {source}")]
    Storage {
        doing: &'static str,
        source: sled::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "stream {stream} is at version {actual}, the append expected {expected}: another writer got there first"
    )]
    Conflict {
        stream: StreamId,
        expected: u64,
        actual: u64,
    },
    #[error(
        "the disk holding the event log is full: {free} bytes free, and a commit keeps {floor} free; appends resume by themselves once space is freed"
    )]
    NoSpace { free: u64, floor: u64 },
    #[error("the log holds its maximum of {max} records")]
    Full { max: u64 },
    #[error("cannot encode an event: {0}")]
    Encode(CodecError),
    #[error("a `{kind}` event of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("an append needs at least one event")]
    EmptyAppend,
    #[error("record {seq} is corrupt: {source}")]
    Corrupt { seq: u64, source: RecordError },
    #[error("record {seq} breaks the log: {message}")]
    Inconsistent { seq: u64, message: String },
    #[error("a key or index entry is {len} bytes, not 8: the log's index is damaged")]
    BadKey { len: usize },
    #[error("record {seq}: {source}")]
    Codec { seq: u64, source: CodecError },
    #[error("the event log writer stopped after an earlier failure: {0}")]
    Poisoned(String),
    #[error("the event log writer is gone")]
    Closed,
}

impl StoreError {
    /// Whether the error says the stored data is damaged, as opposed to the
    /// log being unavailable (locked, unreadable, out of space).
    pub fn is_corruption(&self) -> bool {
        match self {
            StoreError::Open { source, .. } | StoreError::Storage { source, .. } => {
                matches!(source, sled::Error::Corruption { .. })
            }
            // A payload that does not decode passed its CRC and hash: it was
            // written so (by a newer or buggy build), not damaged since.
            StoreError::Corrupt { .. }
            | StoreError::Inconsistent { .. }
            | StoreError::BadKey { .. } => true,
            _ => false,
        }
    }
}

impl StoreError {
    /// The record the error is about, when it is about one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            StoreError::Corrupt { seq, .. }
            | StoreError::Inconsistent { seq, .. }
            | StoreError::Codec { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}
