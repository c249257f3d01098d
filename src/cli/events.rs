//! `deployflow events`: the raw log as JSON lines, payloads decoded.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use deployflow::events::{EventStore, JsonLine, RawLog, StoreError};

use super::client::{Client, Streamed};

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

pub fn run(global: &super::Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    match print_events(global, data_dir, args) {
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

/// From the log itself; when a control plane holds it, through that control
/// plane's event stream.
fn print_events(global: &super::Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    // No log here (another directory, `--server` naming a control plane
    // elsewhere) or one a control plane holds: that control plane's stream.
    if !RawLog::exists(data_dir) {
        let why = format!("no event log in {}", data_dir.display());
        return super::block_on(from_control_plane(&global.server, why, args));
    }
    let store = match EventStore::open(data_dir) {
        Ok(store) => store,
        Err(locked @ StoreError::Locked { .. }) => {
            // The control plane that holds this data dir's log streams it.
            return super::block_on(async {
                let server = match Client::find(&global.server, data_dir).await? {
                    Some(client) => client.base().to_string(),
                    None => global.server.clone(),
                };
                from_control_plane(&server, locked.to_string(), args).await
            });
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the event log in {}", data_dir.display()));
        }
    };
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

/// The control plane that holds the log streams it (`GET /api/events`).
async fn from_control_plane(server: &str, why: String, args: &Args) -> anyhow::Result<Exit> {
    use futures_util::StreamExt;
    let client = Client::new(server)?;
    if !client.is_up().await {
        anyhow::bail!("{why}, and no control plane answers at {server} to stream it");
    }
    let query = format!("from={}&follow={}", args.from, args.follow);
    let mut events = std::pin::pin!(client.events(&query).await?);
    let stdout = std::io::stdout();
    while let Some(message) = events.next().await {
        match message? {
            Streamed::Line(line) => {
                let mut out = stdout.lock();
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Streamed::Failed { message, exit } => {
                eprintln!("error: {message}");
                return Ok(exit);
            }
        }
    }
    Ok(Exit::Success)
}

/// Prints every event from `from` on; returns the sequence after the last.
fn print_from(store: &EventStore, from: u64) -> anyhow::Result<u64> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut next = from;
    for envelope in store.read_from(from) {
        let envelope = envelope?;
        serde_json::to_writer(&mut out, &JsonLine::of(&envelope)?)?;
        out.write_all(b"\n")?;
        next = envelope.seq + 1;
    }
    out.flush()?;
    Ok(next)
}
