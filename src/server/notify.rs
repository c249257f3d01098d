//! `[[notify]]`: webhooks told about deployments, from the log. A follower
//! reads the log from its cursor (`<data-dir>/notify.cursor`), sends each
//! event's notification to the webhooks its deployment's config names, and
//! moves the cursor past the event only once every one was delivered or
//! given up on: a control plane stopped mid-way sends again what it had
//! not finished (at least once), and never what it had.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::config::{Config, Notify};
use crate::events::{Envelope, Event, EventStore, StreamId};
use crate::projections::notifications;

const CURSOR_FILE: &str = "notify.cursor";
/// Tries per notification, and the wait before the first retry (doubled
/// each time): about half a minute of a webhook being down.
const ATTEMPTS: u32 = 6;
const FIRST_RETRY: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(5);
/// Events read per batch.
const BATCH: usize = 256;

/// A deployment's webhooks, and its names for the words.
struct Audience {
    app: String,
    release: String,
    hooks: Vec<Notify>,
}

pub async fn follow(store: EventStore, data_dir: PathBuf) {
    let cursor_path = data_dir.join(CURSOR_FILE);
    // A first start tells nothing of the past: it begins at the log's end.
    let mut next = match read_cursor(&cursor_path) {
        Some(next) => next,
        None => {
            let end = store.head().next_seq;
            write_cursor(&cursor_path, end);
            end
        }
    };
    let client = match crate::adapters::http::client_builder()
        .timeout(TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("no HTTP client for notifications: {e}");
            return;
        }
    };
    let mut audiences: HashMap<StreamId, Option<Audience>> = HashMap::new();
    let mut head = store.subscribe();
    loop {
        let batch = read_batch(&store, next).await;
        if batch.is_empty() {
            if head.changed().await.is_err() {
                return;
            }
            continue;
        }
        for envelope in batch {
            let audience = match audiences.entry(envelope.stream) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(audience_of(&store, envelope.stream).await),
            };
            next = envelope.seq + 1;
            // The cursor is kept after each notification sent, and once a
            // batch: not a file written for every event of the log.
            if let Some(audience) = audience
                && tell(&client, audience, &envelope).await
            {
                write_cursor(&cursor_path, next);
            }
        }
        write_cursor(&cursor_path, next);
    }
}

async fn read_batch(store: &EventStore, from: u64) -> Vec<Envelope> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        store
            .read_from(from)
            .take(BATCH)
            .filter_map(Result::ok)
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// The webhooks the deployment's own config names (none when it names
/// none or no longer parses).
async fn audience_of(store: &EventStore, stream: StreamId) -> Option<Audience> {
    let store = store.clone();
    let first = tokio::task::spawn_blocking(move || store.read_stream(stream, 0))
        .await
        .ok()?
        .ok()?;
    match &first.first()?.event {
        Event::DeploymentRequested {
            app,
            release,
            config,
            base_dir,
            ..
        } => {
            let base = base_dir.as_deref().unwrap_or(".");
            let config = Config::parse(config, &Path::new(base).join("deployflow.toml")).ok()?;
            (!config.notify.is_empty()).then(|| Audience {
                app: app.clone(),
                release: release.clone(),
                hooks: config.notify,
            })
        }
        _ => None,
    }
}

/// Sends `envelope`'s notification to each webhook that asked for its kind;
/// whether there was one to send.
async fn tell(client: &reqwest::Client, audience: &Audience, envelope: &Envelope) -> bool {
    let id = envelope.stream.to_string();
    let Some(notification) =
        notifications::of(&audience.app, &audience.release, &id, &envelope.event)
    else {
        return false;
    };
    let body = json!({
        "text": notification.text,
        "kind": notification.kind.name(),
        "app": audience.app,
        "release": audience.release,
        "deployment": id,
        "seq": envelope.seq,
        "at": envelope.recorded_at,
        "event": envelope.event,
    });
    for hook in audience
        .hooks
        .iter()
        .filter(|hook| hook.events.contains(&notification.kind))
    {
        deliver(client, &hook.url, &body, envelope.seq).await;
    }
    true
}

/// POSTs `body` until a 2xx answers or the tries run out. The delivery id
/// (the event's sequence) lets a receiver drop a repeat.
async fn deliver(client: &reqwest::Client, url: &str, body: &serde_json::Value, seq: u64) {
    let mut wait = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("x-deployflow-delivery", seq.to_string())
            .json(body)
            .send()
            .await;
        let why = match sent {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => format!("answered {}", answer.status()),
            Err(e) => crate::adapters::health::error_chain(&e),
        };
        if attempt == ATTEMPTS {
            tracing::warn!("notification {seq} to {url} given up after {ATTEMPTS} tries: {why}");
            return;
        }
        tracing::info!("notification {seq} to {url}: {why}; trying again in {wait:?}");
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

fn read_cursor(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Written whole or not at all (a temporary file renamed over it).
fn write_cursor(path: &Path, next: u64) {
    let temporary = path.with_extension("tmp");
    let written = std::fs::write(&temporary, format!("{next}\n"))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        tracing::warn!(
            "cannot keep the notification cursor in {}: {e}",
            path.display()
        );
    }
}
