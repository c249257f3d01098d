//! Golden bytes: the encoding of every event kind is pinned by a fixture under
//! `tests/golden/v<schema>/<kind>.msgpack`. A change that alters an existing
//! kind's bytes fails here; fixtures of older schema versions must still
//! decode. `DEPLOYFLOW_BLESS_GOLDEN=1` writes fixtures for new kinds only:
//! an existing fixture is never overwritten.

use std::path::PathBuf;

use deployflow::events::samples::sample;
use deployflow::events::{EventKind, SCHEMA_VERSION, Upcasters, decode_payload, encode_payload};
use strum::IntoEnumIterator;

fn golden_dir(schema: u16) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(format!("v{schema}"))
}

#[test]
fn every_kind_encodes_to_its_golden_bytes() {
    let bless = std::env::var_os("DEPLOYFLOW_BLESS_GOLDEN").is_some();
    let dir = golden_dir(SCHEMA_VERSION);
    let mut missing = Vec::new();
    for kind in EventKind::iter() {
        let path = dir.join(format!("{}.msgpack", kind.name()));
        let bytes = encode_payload(&sample(kind)).unwrap();
        match std::fs::read(&path) {
            Ok(golden) => assert!(
                golden == bytes,
                "the encoding of `{}` changed: it would no longer match logs already written. \
                 Add fields with #[serde(default)], or bump SCHEMA_VERSION with an upcaster.",
                kind.name()
            ),
            Err(_) if bless => {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            Err(_) => missing.push(kind.name()),
        }
    }
    assert!(
        missing.is_empty(),
        "no golden fixture for {missing:?}: run with DEPLOYFLOW_BLESS_GOLDEN=1 and check them in"
    );
}

#[test]
fn every_fixture_of_every_schema_decodes_to_its_sample() {
    let upcasters = Upcasters::standard();
    let mut decoded = 0;
    for schema in 1..=SCHEMA_VERSION {
        for kind in EventKind::iter() {
            let path = golden_dir(schema).join(format!("{}.msgpack", kind.name()));
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let event = decode_payload(schema, &bytes, &upcasters)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(event.kind(), kind, "{}", path.display());
            if schema == SCHEMA_VERSION {
                assert_eq!(event, sample(kind));
            }
            decoded += 1;
        }
    }
    assert!(decoded >= EventKind::iter().count());
}
