//! The upcasting hook: turns a payload written under an older schema version
//! into the shape this build reads, one version step at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::error::CodecError;

/// The payload schema this build writes. Bump it, and register an upcaster
/// from the old version, whenever an existing kind's shape changes in a way
/// `#[serde(default)]` cannot absorb.
pub const SCHEMA_VERSION: u16 = 1;

/// Rewrites one payload (the whole `{kind: {fields}}` map) from schema
/// version `v` to `v + 1`.
pub type UpcastStep = dyn Fn(rmpv::Value) -> Result<rmpv::Value, String> + Send + Sync;

/// The upcasters a store applies on read, keyed by the version they start from.
#[derive(Clone)]
pub struct Upcasters {
    current: u16,
    steps: BTreeMap<u16, Arc<UpcastStep>>,
}

impl Upcasters {
    /// The steps this build ships with, reading up to `SCHEMA_VERSION`.
    /// Schema 1 is the first: there is nothing older to upcast yet.
    pub fn standard() -> Self {
        Self::new(SCHEMA_VERSION)
    }

    /// An empty chain that reads up to `current`.
    pub fn new(current: u16) -> Self {
        Self {
            current,
            steps: BTreeMap::new(),
        }
    }

    /// Registers the step from version `from` to `from + 1`.
    pub fn register(
        mut self,
        from: u16,
        step: impl Fn(rmpv::Value) -> Result<rmpv::Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps.insert(from, Arc::new(step));
        self
    }

    pub fn current(&self) -> u16 {
        self.current
    }

    pub(super) fn upcast(
        &self,
        mut from: u16,
        mut value: rmpv::Value,
    ) -> Result<rmpv::Value, CodecError> {
        while from < self.current {
            let step = self
                .steps
                .get(&from)
                .ok_or(CodecError::NoUpcaster { from })?;
            value = step(value).map_err(|message| CodecError::Upcast { from, message })?;
            from += 1;
        }
        Ok(value)
    }
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upcasters")
            .field("current", &self.current)
            .field("from", &self.steps.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, decode_payload};

    /// A schema 1 that called `Failed`'s field `error`, and a schema 2 (this
    /// test's "current") that calls it `reason`.
    fn renaming_upcasters() -> Upcasters {
        Upcasters::new(2).register(1, |value| {
            let rmpv::Value::Map(mut kinds) = value else {
                return Err("payload is not a map".into());
            };
            for (kind, fields) in &mut kinds {
                if let (Some("failed"), rmpv::Value::Map(fields)) = (kind.as_str(), fields) {
                    for (name, _) in fields.iter_mut() {
                        if name.as_str() == Some("error") {
                            *name = "reason".into();
                        }
                    }
                }
            }
            Ok(rmpv::Value::Map(kinds))
        })
    }

    fn old_failed_payload() -> Vec<u8> {
        let value = rmpv::Value::Map(vec![(
            "failed".into(),
            rmpv::Value::Map(vec![("error".into(), "disk full".into())]),
        )]);
        rmp_serde::to_vec_named(&value).unwrap()
    }

    #[test]
    fn an_old_payload_is_upcast_before_it_is_read() {
        let event = decode_payload(1, &old_failed_payload(), &renaming_upcasters()).unwrap();
        assert_eq!(
            event,
            Event::Failed {
                reason: "disk full".into()
            }
        );
    }

    #[test]
    fn a_missing_step_is_a_named_error() {
        let err = decode_payload(0, &old_failed_payload(), &renaming_upcasters()).unwrap_err();
        assert!(matches!(err, CodecError::NoUpcaster { from: 0 }), "{err}");
    }

    #[test]
    fn a_failing_step_names_its_version() {
        let upcasters = Upcasters::new(2).register(1, |_| Err("unreadable".into()));
        let err = decode_payload(1, &old_failed_payload(), &upcasters).unwrap_err();
        assert_eq!(
            err.to_string(),
            "upcasting from schema version 1 failed: unreadable"
        );
    }
}
