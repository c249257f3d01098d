//! The event log: one append-only, hash-chained sequence of decisions.
//!
//! `Event` is the payload, `Envelope` the record around it. `EventStore`
//! appends (optimistic concurrency per stream, group commit, flushed before
//! it returns) and reads; `verify` walks the CRCs and the chain.

#[cfg(test)]
pub(crate) mod arbitrary;
mod codec;
mod committer;
mod envelope;
mod error;
mod event;
mod json_line;
pub mod payloads;
mod position;
pub mod raw_log;
pub mod record;
mod recover;
mod rollout_step;
pub mod samples;
mod seal;
pub mod segment;
mod store;
mod terms;
mod upcast;
mod verify;

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use codec::{SCHEMA_VERSION, decode_payload, encode_payload};
pub use envelope::Envelope;
pub use error::{CodecError, RecordError, StoreError};
pub use event::{Event, EventKind};
pub use json_line::JsonLine;
pub use raw_log::RawLog;
pub use recover::Recovery;
pub use rollout_step::{ManualPause, RolloutStep};
pub use store::{Appended, EventStore, Head};
pub use terms::{
    AnalysisPhase, Decision, Finding, FixOutcome, IssueOutcome, LiveRelease, MeasurementVerdict,
    MissingInput, Outcome, Patch, Role, RunVerdict, Severity, Slot, Tier, Usage, Verdict,
};
pub use upcast::Upcasters;
pub use verify::{VerifyFailure, VerifyReport, verify};

/// A deployment's stream: its UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(pub Uuid);

impl StreamId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for StreamId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A SHA-256 digest in the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The previous hash of the first record.
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
