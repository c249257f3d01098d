//! Answers for the read side of the API, folded from the log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::events::{Envelope, EventStore, StoreError, StreamId};
use crate::flow::{Deployment, next_step};
use crate::projections::{self, apps::AppIndex, audit, history, metrics, timeline};

pub fn history(
    store: &EventStore,
    app: Option<&str>,
    limit: usize,
) -> Result<Vec<history::HistoryRow>, StoreError> {
    let streams = projections::streams(store)?;
    let mut rows: Vec<_> = streams
        .values()
        .filter_map(|events| history::row(events))
        .filter(|row| app.is_none_or(|a| row.app == a))
        .collect();
    rows.reverse(); // newest first
    rows.truncate(limit);
    Ok(rows)
}

pub fn show(store: &EventStore, id: StreamId, after: u64) -> Result<Option<Value>, StoreError> {
    let events = store.read_stream(id, 0)?;
    let Some(row) = history::row(&events) else {
        return Ok(None);
    };
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let newer: Vec<&Envelope> = events.iter().filter(|e| e.version >= after).collect();
    Ok(Some(json!({
        "deployment": row,
        "state": {
            "phase": state.stage(),
            "tier": state.tier,
            "round": state.round,
            "fixes": state.fixes,
            "green_slot": state.green_slot,
            "green_endpoint": state.green_endpoint,
            "awaiting_approval": matches!(next_step(&state), crate::flow::Step::AwaitApproval),
        },
        "version": events.len(),
        "timing": crate::projections::overhead::timing(&events),
        "events": newer.iter().map(|e| event_json(e, events[0].recorded_at)).collect::<Vec<_>>(),
    })))
}

pub fn event_json(envelope: &Envelope, start: DateTime<Utc>) -> Value {
    json!({
        "seq": envelope.seq,
        "version": envelope.version,
        "at": envelope.recorded_at,
        "elapsed_ms": (envelope.recorded_at - start).num_milliseconds(),
        "kind": envelope.event.kind().name(),
        "text": timeline::describe(&envelope.event),
        "event": envelope.event,
    })
}

pub fn audit(
    store: &EventStore,
    id: StreamId,
) -> Result<Option<Vec<audit::AuditEntry>>, StoreError> {
    let events = store.read_stream(id, 0)?;
    Ok((!events.is_empty()).then(|| audit::entries(&events)))
}

pub fn metrics(
    store: &EventStore,
    app: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Result<metrics::Metrics, StoreError> {
    let streams = projections::streams(store)?;
    let deployments: Vec<_> = streams
        .into_values()
        .filter_map(|events| history::row(&events).map(|row| (row, events)))
        .filter(|(row, _)| app.is_none_or(|a| row.app == a))
        .filter(|(row, _)| since.is_none_or(|s| row.started_at.is_some_and(|t| t >= s)))
        .collect();
    Ok(metrics::compute(&deployments, Utc::now()))
}

/// Rollback state per app (DESIGN.md's field names).
pub fn status(store: &EventStore, app: Option<&str>) -> Result<Vec<Value>, StoreError> {
    let mut index = AppIndex::default();
    for envelope in store.read_from(0) {
        index.apply(&envelope?);
    }
    let mut out = Vec::new();
    for (name, state) in index.apps() {
        if app.is_some_and(|a| a != name) {
            continue;
        }
        let candidate = state.active.and_then(|id| {
            index
                .deployment(id)
                .map(|d| json!({ "id": id, "release": d.release, "phase": d.stage() }))
        });
        out.push(json!({
            "app": name,
            "live": state.live.as_ref().map(|l| json!({
                "slot": l.slot,
                "release": l.release,
                "endpoint": l.endpoint,
                "since": state.live_since,
            })),
            "candidate": candidate,
            "retained": state.retained.iter().map(|r| json!({
                "release": r.release,
                "slot": r.slot,
                "stopped_at": r.stopped_at,
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}

/// A deployment's state as of global sequence `at` (or now).
pub fn replay(
    store: &EventStore,
    id: StreamId,
    at: Option<u64>,
) -> Result<Option<Value>, StoreError> {
    let events: Vec<Envelope> = store
        .read_stream(id, 0)?
        .into_iter()
        .filter(|e| at.is_none_or(|at| e.seq <= at))
        .collect();
    if events.is_empty() {
        return Ok(None);
    }
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    Ok(Some(json!({
        "id": id,
        "as_of_seq": events.last().map(|e| e.seq),
        "events": events.len(),
        "status": history::status_name(state.outcome()),
        "next_step": next_step(&state),
        "state": state,
    })))
}

/// Every projection folded again from sequence 0; what each holds.
pub fn rebuild(store: &EventStore) -> Result<Value, StoreError> {
    let streams: BTreeMap<StreamId, Vec<Envelope>> = projections::streams(store)?;
    let rows = streams.values().filter_map(|e| history::row(e)).count();
    let audits: usize = streams.values().map(|e| audit::entries(e).len()).sum();
    let records: usize = streams.values().map(Vec::len).sum();
    Ok(json!({ "records": records, "deployments": rows, "audit_entries": audits }))
}
