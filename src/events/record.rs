//! The on-disk form of one log record: a fixed binary header, then the payload.
//!
//! ```text
//! 0..4     CRC-32 of bytes 4.. (everything after it)
//! 4        record format (1)
//! 5..13    global sequence, u64 big-endian
//! 13..29   stream id (UUID)
//! 29..37   stream version, u64 big-endian
//! 37..53   event id (UUID)
//! 53..61   recorded_at, seconds since the epoch, i64 big-endian
//! 61..65   recorded_at, nanoseconds, u32 big-endian
//! 65..67   payload schema version, u16 big-endian
//! 67..99   previous record's hash
//! 99..131  this record's hash: SHA-256 of bytes 4..99 and the payload
//! 131..    payload: the `Event`, rmp-serde named form
//! ```
//!
//! The header is fixed-width so that `verify` walks the CRC and the hash
//! chain without decoding a single payload.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::RecordError;
use super::{Hash, StreamId};

pub const FORMAT: u8 = 1;
pub const HEADER_LEN: usize = 131;
/// The largest payload an append takes. Events are decisions, not artifacts:
/// logs and diagnoses are cut to their tail long before this.
pub const MAX_PAYLOAD: usize = 16 << 20;
const HASHED_HEADER: std::ops::Range<usize> = 4..99;
const HASH: std::ops::Range<usize> = 99..131;

/// Everything in a record but the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    pub stream: StreamId,
    pub version: u64,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub schema_version: u16,
    pub prev_hash: Hash,
    pub hash: Hash,
}

/// Builds a record's bytes: fills in its hash from `prev_hash` and the
/// payload, then its CRC. `header.hash` is ignored and computed here.
pub fn encode(header: &Header, payload: &[u8]) -> (Vec<u8>, Hash) {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    let hash = encode_into(&mut bytes, header, payload);
    (bytes, hash)
}

/// `encode`, appending the record to `out` (a segment being built), so a
/// commit copies each record once.
pub fn encode_into(out: &mut Vec<u8>, header: &Header, payload: &[u8]) -> Hash {
    let start = out.len();
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&[0; 4]);
    out.push(FORMAT);
    out.extend_from_slice(&header.seq.to_be_bytes());
    out.extend_from_slice(header.stream.0.as_bytes());
    out.extend_from_slice(&header.version.to_be_bytes());
    out.extend_from_slice(header.event_id.as_bytes());
    out.extend_from_slice(&header.recorded_at.timestamp().to_be_bytes());
    out.extend_from_slice(&header.recorded_at.timestamp_subsec_nanos().to_be_bytes());
    out.extend_from_slice(&header.schema_version.to_be_bytes());
    out.extend_from_slice(&header.prev_hash.0);
    let hashed = start + HASHED_HEADER.start..start + HASHED_HEADER.end;
    let hash = content_hash(&out[hashed], payload);
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_be_bytes());
    hash
}

fn content_hash(hashed_header: &[u8], payload: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(hashed_header);
    hasher.update(payload);
    Hash(hasher.finalize().into())
}

/// A record checked for shape and CRC, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub header: Header,
    pub payload: &'a [u8],
    bytes: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Parses the header after checking the length, the CRC and the format.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RecordError> {
        if bytes.len() < HEADER_LEN {
            return Err(RecordError::Truncated { len: bytes.len() });
        }
        let stored_crc = u32::from_be_bytes(array(&bytes[0..4]));
        let actual_crc = crc32fast::hash(&bytes[4..]);
        if stored_crc != actual_crc {
            return Err(RecordError::Crc {
                stored: stored_crc,
                actual: actual_crc,
            });
        }
        if bytes[4] != FORMAT {
            return Err(RecordError::Format(bytes[4]));
        }
        let secs = i64::from_be_bytes(array(&bytes[53..61]));
        let nanos = u32::from_be_bytes(array(&bytes[61..65]));
        let recorded_at =
            DateTime::from_timestamp(secs, nanos).ok_or(RecordError::Timestamp { secs, nanos })?;
        let header = Header {
            seq: u64::from_be_bytes(array(&bytes[5..13])),
            stream: StreamId(Uuid::from_bytes(array(&bytes[13..29]))),
            version: u64::from_be_bytes(array(&bytes[29..37])),
            event_id: Uuid::from_bytes(array(&bytes[37..53])),
            recorded_at,
            schema_version: u16::from_be_bytes(array(&bytes[65..67])),
            prev_hash: Hash(array(&bytes[67..99])),
            hash: Hash(array(&bytes[HASH])),
        };
        Ok(Self {
            header,
            payload: &bytes[HEADER_LEN..],
            bytes,
        })
    }

    /// Whether the stored hash is the hash of the record's content.
    pub fn hash_matches(&self) -> bool {
        content_hash(&self.bytes[HASHED_HEADER], self.payload) == self.header.hash
    }
}

/// Copies a slice whose length the caller has already fixed into an array.
fn array<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(slice);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            seq: 7,
            stream: StreamId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
            version: 3,
            event_id: Uuid::from_u128(42),
            recorded_at: DateTime::from_timestamp(1_764_000_000, 123_456_789).unwrap(),
            schema_version: 1,
            prev_hash: Hash([9; 32]),
            hash: Hash::ZERO,
        }
    }

    proptest::proptest! {
        #[test]
        fn any_header_and_payload_survive_the_round_trip(
            seq: u64, stream: u128, version: u64, event_id: u128,
            secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000,
            schema_version: u16, prev: [u8; 32],
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let header = Header {
                seq,
                stream: StreamId(Uuid::from_u128(stream)),
                version,
                event_id: Uuid::from_u128(event_id),
                recorded_at: DateTime::from_timestamp(secs, nanos).unwrap(),
                schema_version,
                prev_hash: Hash(prev),
                hash: Hash::ZERO,
            };
            let (bytes, hash) = encode(&header, &payload);
            let view = RecordView::parse(&bytes).unwrap();
            proptest::prop_assert_eq!(view.header, Header { hash, ..header });
            proptest::prop_assert_eq!(view.payload, &payload[..]);
            proptest::prop_assert!(view.hash_matches());
        }
    }

    #[test]
    fn a_record_parses_back_to_its_header_and_payload() {
        let (bytes, hash) = encode(&header(), b"payload");
        let view = RecordView::parse(&bytes).unwrap();
        assert_eq!(view.header, Header { hash, ..header() });
        assert_eq!(view.payload, b"payload");
        assert!(view.hash_matches());
    }

    #[test]
    fn every_flipped_bit_is_caught_by_the_crc() {
        let (bytes, _) = encode(&header(), b"payload");
        for i in 0..bytes.len() * 8 {
            let mut copy = bytes.clone();
            copy[i / 8] ^= 1 << (i % 8);
            assert!(RecordView::parse(&copy).is_err(), "bit {i} went unnoticed");
        }
    }

    #[test]
    fn a_record_cut_anywhere_is_an_error_not_a_panic() {
        let (bytes, _) = encode(&header(), b"payload");
        for len in 0..bytes.len() {
            assert!(RecordView::parse(&bytes[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn the_hash_depends_on_the_previous_hash() {
        let (_, a) = encode(&header(), b"payload");
        let other = Header {
            prev_hash: Hash([8; 32]),
            ..header()
        };
        let (_, b) = encode(&other, b"payload");
        assert_ne!(a, b);
    }
}
