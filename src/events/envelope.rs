use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::StoreError;
use super::record::RecordView;
use super::upcast::Upcasters;
use super::{Event, Hash, StreamId, decode_payload};

/// One decoded record of the log: the event and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Position in the global order, from 0, without gaps.
    pub seq: u64,
    pub stream: StreamId,
    /// Position in its stream, from 0, without gaps.
    pub version: u64,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    /// The payload schema the event was written under (before upcasting).
    pub schema_version: u16,
    pub prev_hash: Hash,
    pub hash: Hash,
    pub event: Event,
}

impl Envelope {
    /// Decodes the record stored under `seq`: its CRC, its key and its
    /// payload must all hold, or the error names the sequence.
    pub fn decode(seq: u64, bytes: &[u8], upcasters: &Upcasters) -> Result<Self, StoreError> {
        let view =
            RecordView::parse(bytes).map_err(|source| StoreError::Corrupt { seq, source })?;
        let h = view.header;
        if h.seq != seq {
            return Err(StoreError::Inconsistent {
                seq,
                message: format!("it is stored under {seq} but says it is {}", h.seq),
            });
        }
        let event = decode_payload(h.schema_version, view.payload, upcasters)
            .map_err(|source| StoreError::Codec { seq, source })?;
        Ok(Self {
            seq,
            stream: h.stream,
            version: h.version,
            event_id: h.event_id,
            recorded_at: h.recorded_at,
            schema_version: h.schema_version,
            prev_hash: h.prev_hash,
            hash: h.hash,
            event,
        })
    }
}
