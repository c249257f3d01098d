//! `deployflow events`: the raw log as JSON lines, payloads decoded.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use deployflow::events::{Envelope, EventStore, RawLog};
use serde::Serialize;

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep running and print each event as it is appended.
    #[arg(long)]
    pub follow: bool,
    /// Start at this global sequence.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
}

/// One line of output. The field names are what scripts read.
#[derive(Serialize)]
struct Line {
    seq: u64,
    stream: String,
    version: u64,
    event_id: String,
    recorded_at: String,
    schema_version: u16,
    prev_hash: String,
    hash: String,
    kind: &'static str,
    event: serde_json::Value,
}

impl Line {
    fn of(envelope: &Envelope) -> anyhow::Result<Self> {
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

pub fn run(data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    match follow(data_dir, args) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if is_broken_pipe(&e) => Ok(Exit::Success),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|json| json.io_error_kind())
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn follow(data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    if !RawLog::exists(data_dir) {
        anyhow::bail!("no event log in {}", data_dir.display());
    }
    let store = EventStore::open(data_dir)
        .with_context(|| format!("cannot read the event log in {}", data_dir.display()))?;
    let mut next = print_from(&store, args.from)?;
    if !args.follow {
        return Ok(Exit::Success);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start the event follower")?;
    let mut changes = store.subscribe();
    runtime.block_on(async {
        // The subscription only signals; the log itself says what is new.
        while changes.changed().await.is_ok() {
            next = print_from(&store, next)?;
        }
        Ok(Exit::Success)
    })
}

/// Prints every event from `from` on; returns the sequence after the last.
fn print_from(store: &EventStore, from: u64) -> anyhow::Result<u64> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut next = from;
    for envelope in store.read_from(from) {
        let envelope = envelope?;
        serde_json::to_writer(&mut out, &Line::of(&envelope)?)?;
        out.write_all(b"\n")?;
        next = envelope.seq + 1;
    }
    out.flush()?;
    Ok(next)
}
