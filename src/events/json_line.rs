//! An event as one JSON line: the envelope's fields and the payload's,
//! with the kind as its own field. `deployflow events` prints it and the
//! API's event stream sends it; scripts read its field names.

use serde::Serialize;

use super::Envelope;

#[derive(Debug, Serialize)]
pub struct JsonLine {
    pub seq: u64,
    pub stream: String,
    pub version: u64,
    pub event_id: String,
    pub recorded_at: String,
    pub schema_version: u16,
    pub prev_hash: String,
    pub hash: String,
    pub kind: &'static str,
    pub event: serde_json::Value,
}

impl JsonLine {
    pub fn of(envelope: &Envelope) -> serde_json::Result<Self> {
        // The payload serializes as {kind: {fields}}; the line carries the
        // kind as its own field and the fields as `event`.
        let event = match serde_json::to_value(&envelope.event)? {
            serde_json::Value::Object(map) => map.into_iter().next().map(|(_, v)| v),
            _ => None,
        }
        .unwrap_or(serde_json::Value::Null);
        Ok(Self {
            seq: envelope.seq,
            stream: envelope.stream.to_string(),
            version: envelope.version,
            event_id: envelope.event_id.to_string(),
            recorded_at: envelope
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            schema_version: envelope.schema_version,
            prev_hash: envelope.prev_hash.to_hex(),
            hash: envelope.hash.to_hex(),
            kind: envelope.event.kind().name(),
            event,
        })
    }
}
