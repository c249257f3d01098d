//! Where the log ends and what an append wrote: the positions the store
//! and its writer threads both speak of, in a leaf file of their own.

use super::{Hash, StreamId};

/// Where the log ends: the sequence the next record gets and the hash it chains to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub next_seq: u64,
    pub last_hash: Hash,
}

/// What an append wrote: `count` events from `first_seq` and `first_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub stream: StreamId,
    pub first_seq: u64,
    pub first_version: u64,
    pub count: u64,
}

impl Appended {
    /// The stream's length after this append: the next append's expected version.
    pub fn next_version(&self) -> u64 {
        self.first_version + self.count
    }
}
