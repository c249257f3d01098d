//! `GET /api/events`: the log as server-sent events, live. Each event's
//! `id` is its global sequence and its `data` the JSON line `deployflow
//! events` prints, so a client that lost its connection resumes with
//! `Last-Event-ID` (or `?from=`) and misses nothing. `?stream=ID` keeps one
//! deployment's events; `?follow=false` ends the stream at the log's head.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::watch;

use super::error::{ApiError, ApiQuery, ErrorBody};
use super::state::Shared;
use crate::events::{EventStore, Head, JsonLine, StreamId};

/// Events read from the log at a time: a client far behind is caught up in
/// batches, never with the whole log in memory.
const BATCH: usize = 256;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// The first global sequence (default 0; `Last-Event-ID` overrides it).
    from: Option<u64>,
    /// Only this deployment's events.
    stream: Option<String>,
    /// `false`: end at the log's head instead of waiting for more.
    follow: Option<bool>,
}

/// The log as server-sent events: `id` the global sequence, `data` the
/// event's JSON line.
#[utoipa::path(get, path = "/api/events", tag = "events", params(Params),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody)))]
pub async fn events(
    State(shared): State<Shared>,
    ApiQuery(params): ApiQuery<Params>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|seen| seen.saturating_add(1));
    let only = match &params.stream {
        Some(id) => Some(shared.resolve(id).await?),
        None => None,
    };
    let tail = Tail {
        // Subscribed before the first read: a commit in between still wakes it.
        changes: shared.store.subscribe(),
        store: shared.store.clone(),
        next: resumed.or(params.from).unwrap_or(0),
        only,
        follow: params.follow.unwrap_or(true),
        pending: VecDeque::new(),
        ended: false,
    };
    let stream = futures_util::stream::unfold(tail, |mut tail| async move {
        tail.next_event().await.map(|event| (Ok(event), tail))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Tail {
    store: EventStore,
    changes: watch::Receiver<Head>,
    next: u64,
    only: Option<StreamId>,
    follow: bool,
    pending: VecDeque<Event>,
    ended: bool,
}

impl Tail {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let (store, from) = (self.store.clone(), self.next);
            // Reading the log is blocking IO: off the runtime's threads.
            let batch = tokio::task::spawn_blocking(move || {
                store.read_from(from).take(BATCH).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            if batch.is_empty() {
                if !self.follow || self.changes.changed().await.is_err() {
                    return None;
                }
                continue;
            }
            for read in batch {
                match read {
                    Ok(envelope) => {
                        self.next = envelope.seq + 1;
                        if self.only.is_some_and(|id| id != envelope.stream) {
                            continue;
                        }
                        self.pending.push_back(message(&envelope));
                    }
                    Err(e) => {
                        // The stream ends here, saying why: a reader never
                        // skips past a record it could not read.
                        let code = if e.is_corruption() { 5 } else { 1 };
                        let body = serde_json::json!({"error": e.to_string(), "code": code});
                        self.pending
                            .push_back(Event::default().event("error").data(body.to_string()));
                        self.ended = true;
                        break;
                    }
                }
            }
        }
    }
}

fn message(envelope: &crate::events::Envelope) -> Event {
    let data = JsonLine::of(envelope)
        .and_then(|line| serde_json::to_string(&line))
        .unwrap_or_default();
    Event::default().id(envelope.seq.to_string()).data(data)
}
