//! Payload encoding: the `Event` in rmp-serde's named (map) form.

use super::error::CodecError;
use super::event::Event;
pub use super::upcast::SCHEMA_VERSION;
use super::upcast::Upcasters;

pub fn encode_payload(event: &Event) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(event)?)
}

/// Decodes a payload written under `schema`, upcasting it first when it is
/// older than this build. Fields this build does not know are ignored, so a
/// log written by a newer minor version still reads.
pub fn decode_payload(
    schema: u16,
    bytes: &[u8],
    upcasters: &Upcasters,
) -> Result<Event, CodecError> {
    let current = upcasters.current();
    if schema == current {
        return Ok(rmp_serde::from_slice(bytes)?);
    }
    if schema > current {
        return rmp_serde::from_slice(bytes).map_err(|source| CodecError::Newer {
            schema,
            current,
            source,
        });
    }
    let value: rmpv::Value = rmp_serde::from_slice(bytes)?;
    let value = upcasters.upcast(schema, value)?;
    // rmpv's own deserializer reads enums in array form only, so the upcast
    // value goes back through bytes to be read as the map form it is.
    let bytes = rmp_serde::to_vec(&value)?;
    Ok(rmp_serde::from_slice(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::arbitrary;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_inverts_encode(event in arbitrary::event()) {
            let bytes = encode_payload(&event).unwrap();
            let decoded = decode_payload(SCHEMA_VERSION, &bytes, &Upcasters::standard()).unwrap();
            prop_assert_eq!(decoded, event);
        }

        #[test]
        fn arbitrary_bytes_decode_to_an_error_or_an_event_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let _ = decode_payload(SCHEMA_VERSION, &bytes, &Upcasters::standard());
        }
    }
    use crate::events::{Slot, Tier};
    use serde::Serialize;

    #[test]
    fn payloads_are_maps_keyed_by_kind_and_field_names() {
        let bytes = encode_payload(&Event::Failed {
            reason: "disk full".into(),
        })
        .unwrap();
        let value: rmpv::Value = rmp_serde::from_slice(&bytes).unwrap();
        let expected = rmpv::Value::Map(vec![(
            "failed".into(),
            rmpv::Value::Map(vec![("reason".into(), "disk full".into())]),
        )]);
        assert_eq!(value, expected);
    }

    #[test]
    fn unknown_fields_from_a_newer_writer_are_ignored() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Future {
            Escalated {
                from: Tier,
                to: Tier,
                reason: String,
                confidence: f64,
                hint: Vec<String>,
            },
        }
        let bytes = rmp_serde::to_vec_named(&Future::Escalated {
            from: Tier::Driver,
            to: Tier::Senior,
            reason: "stuck".into(),
            confidence: 0.5,
            hint: vec!["port".into()],
        })
        .unwrap();
        let expected = Event::Escalated {
            from: Tier::Driver,
            to: Tier::Senior,
            reason: "stuck".into(),
        };
        let upcasters = Upcasters::standard();
        assert_eq!(
            decode_payload(SCHEMA_VERSION, &bytes, &upcasters).unwrap(),
            expected
        );
        assert_eq!(
            decode_payload(SCHEMA_VERSION + 1, &bytes, &upcasters).unwrap(),
            expected
        );
    }

    #[test]
    fn a_newer_kind_this_build_cannot_read_is_a_named_error() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Future {
            CanaryStepped { percent: u8 },
        }
        let bytes = rmp_serde::to_vec_named(&Future::CanaryStepped { percent: 10 }).unwrap();
        let err = decode_payload(SCHEMA_VERSION + 1, &bytes, &Upcasters::standard()).unwrap_err();
        assert!(matches!(err, CodecError::Newer { .. }), "{err}");
        assert!(err.to_string().contains("newer deployflow"));
    }

    #[test]
    fn missing_optional_fields_take_their_defaults() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Old {
            DeploymentRequested {
                app: String,
                release: String,
                requested_by: String,
                config: String,
            },
        }
        let bytes = rmp_serde::to_vec_named(&Old::DeploymentRequested {
            app: "hello".into(),
            release: "2".into(),
            requested_by: "ana".into(),
            config: String::new(),
        })
        .unwrap();
        let event = decode_payload(SCHEMA_VERSION, &bytes, &Upcasters::standard()).unwrap();
        assert!(matches!(
            event,
            Event::DeploymentRequested {
                rollback_to: None,
                commit: None,
                committed_at: None,
                ..
            }
        ));
        let _ = Slot::Blue;
    }
}
