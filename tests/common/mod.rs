//! Helpers shared by the black-box tests: a real log written through the
//! library, and the binary under test.
#![allow(dead_code)]
// Helpers start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

pub mod analysis;
pub mod canary;
pub mod docker;
pub mod forge;
pub mod git;
pub mod http;
pub mod json_server;
pub mod router;
pub mod upstream;
pub mod wrk;

use std::path::Path;
use std::process::{Command, Output};

use deployflow::events::samples::sample;
use deployflow::events::{EventKind, EventStore, StreamId};
use strum::IntoEnumIterator;

/// Writes `deployments` streams, each with every event kind once, appended in
/// small groups as a Driver would. Returns the number of events written.
pub fn write_log(data_dir: &Path, deployments: usize) -> u64 {
    let store = EventStore::open(data_dir).expect("open a fresh log");
    let kinds: Vec<_> = EventKind::iter().collect();
    let mut total = 0;
    for _ in 0..deployments {
        let stream = StreamId::new();
        let mut version = 0;
        for group in kinds.chunks(4) {
            let events: Vec<_> = group.iter().map(|k| sample(*k)).collect();
            let appended = store
                .append_blocking(stream, version, &events)
                .expect("append");
            version = appended.next_version();
            total += appended.count;
        }
    }
    total
}

pub fn deployflow(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run the deployflow binary")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
pub mod scenario;
