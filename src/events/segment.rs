//! A segment: the records of one group commit, stored as one sled value.
//!
//! ```text
//! ( length of the record, u32 big-endian | the record's bytes ) ...
//! ```
//!
//! Why: sled's cost is per entry. Writing a commit's records as one entry
//! keeps the store's sled work per commit at what raw sled spends inserting
//! the same events one entry each, stream index included, and makes a
//! sequential read touch one entry per commit instead of one per event.
//! Each record keeps its own CRC, so damage is still found record by record.

use std::ops::Range;

use super::error::RecordError;

use super::Hash;
use super::record::{self, HEADER_LEN, Header};

/// Appends a record built from `header` and `payload`; returns its hash.
pub fn push_record(segment: &mut Vec<u8>, header: &Header, payload: &[u8]) -> Hash {
    let len = u32::try_from(HEADER_LEN + payload.len()).unwrap_or(u32::MAX);
    segment.extend_from_slice(&len.to_be_bytes());
    record::encode_into(segment, header, payload)
}

#[cfg(test)]
fn push(segment: &mut Vec<u8>, record: &[u8]) {
    let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(record);
}

/// The byte ranges of a segment's records, in order. A length that runs past
/// the end is an error, after which nothing more is read.
pub struct Ranges<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

pub fn ranges(bytes: &[u8]) -> Ranges<'_> {
    Ranges {
        bytes,
        pos: 0,
        failed: false,
    }
}

impl Iterator for Ranges<'_> {
    type Item = Result<Range<usize>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos == self.bytes.len() {
            return None;
        }
        let rest = self.bytes.len() - self.pos;
        let Some(prefix) = self.bytes.get(self.pos..self.pos + 4) else {
            self.failed = true;
            return Some(Err(RecordError::Truncated { len: rest }));
        };
        let mut len = [0; 4];
        len.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len) as usize;
        let start = self.pos + 4;
        if len > self.bytes.len() - start {
            self.failed = true;
            return Some(Err(RecordError::Truncated { len: rest - 4 }));
        }
        self.pos = start + len;
        Some(Ok(start..start + len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order() {
        let mut segment = Vec::new();
        push(&mut segment, b"one");
        push(&mut segment, b"");
        push(&mut segment, b"three");
        let records: Vec<_> = ranges(&segment).map(|r| &segment[r.unwrap()]).collect();
        assert_eq!(records, [&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn a_cut_segment_ends_in_one_error() {
        let mut segment = Vec::new();
        push(&mut segment, b"one");
        push(&mut segment, b"three");
        for cut in 0..segment.len() {
            let results: Vec<_> = ranges(&segment[..cut]).collect();
            let errors = results.iter().filter(|r| r.is_err()).count();
            let whole = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(errors, usize::from(cut != 0 && cut != 7), "cut at {cut}");
            assert_eq!(whole, usize::from(cut >= 7), "cut at {cut}");
        }
    }
}
