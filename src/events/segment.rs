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
    // `EventStore` refuses payloads over `record::MAX_PAYLOAD`, far below 4 GiB.
    let len = (HEADER_LEN + payload.len()) as u32;
    segment.extend_from_slice(&len.to_be_bytes());
    record::encode_into(segment, header, payload)
}

#[cfg(test)]
fn push(segment: &mut Vec<u8>, record: &[u8]) {
    let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(record);
}

/// The record that starts at `pos` in a segment: its byte range, or `None`
/// at the end. A length that runs past the end is an error.
pub fn next_range(bytes: &[u8], pos: usize) -> Option<Result<Range<usize>, RecordError>> {
    let rest = bytes.len().checked_sub(pos)?;
    if rest == 0 {
        return None;
    }
    let Some(prefix) = bytes.get(pos..pos + 4) else {
        return Some(Err(RecordError::Truncated { len: rest }));
    };
    let mut len = [0; 4];
    len.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len) as usize;
    let start = pos + 4;
    if len > bytes.len() - start {
        return Some(Err(RecordError::Truncated { len: rest - 4 }));
    }
    Some(Ok(start..start + len))
}

/// Every record's byte range, in order; the first error ends it.
pub fn ranges(bytes: &[u8]) -> impl Iterator<Item = Result<Range<usize>, RecordError>> + '_ {
    let mut pos = Some(0);
    std::iter::from_fn(move || {
        let next = next_range(bytes, pos?)?;
        pos = next.as_ref().ok().map(|range| range.end);
        Some(next)
    })
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
