//! Answers for the read side of the API: history, metrics and status from
//! the read model; one deployment's timeline, audit and replay from its own
//! stream (an indexed read), by the same fold the Driver uses.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::events::{Envelope, EventStore, StoreError, StreamId};
use crate::flow::{Deployment, next_step};
use crate::projections::model::Model;
use crate::projections::runner::ReadModel;
use crate::projections::{analyses, audit, history, metrics, timeline};

pub fn history(model: &ReadModel, app: Option<&str>, limit: usize) -> Vec<history::HistoryRow> {
    let model = model.read();
    let ids = || model.records().iter().map(|r| &r.id);
    model
        .records()
        .iter()
        .rev() // newest first
        .filter(|r| app.is_none_or(|a| r.app == a))
        .take(limit)
        .map(|record| history::HistoryRow {
            short_id: crate::projections::ids::short(ids(), record.id),
            ..history::row_of(record)
        })
        .collect()
}

pub fn show(store: &EventStore, id: StreamId, after: u64) -> Result<Option<Value>, StoreError> {
    // The row folded from the very events shown with it: the shared read
    // model, read before or after them, could be older (a finished
    // deployment called in progress) or newer (an ending whose events are
    // not shown yet).
    let events = store.read_stream(id, 0)?;
    let mut own = Model::default();
    for envelope in &events {
        own.apply(envelope);
    }
    let Some(row) = own.record(id).map(history::row_of) else {
        return Ok(None);
    };
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let newer: Vec<&Envelope> = events.iter().filter(|e| e.version >= after).collect();
    let start = events.first().map(|e| e.recorded_at).unwrap_or_default();
    Ok(Some(json!({
        "deployment": row,
        "state": {
            "phase": state.stage(),
            "tier": state.tier,
            "round": state.round,
            "fixes": state.fixes,
            "green_slot": state.green_slot,
            "green_endpoint": state.green_endpoint,
            "awaiting_approval": state.awaiting_approval(),
            "strategy": state.policy.strategy(),
            "steps": state.policy.steps,
            "step": state.canary.as_ref().map(|c| c.index),
            "step_completed": state.canary.as_ref().is_some_and(|c| c.completed),
            "weight": state.weight,
        },
        "version": events.len(),
        "timing": crate::projections::overhead::timing(&events),
        "events": newer.iter().map(|e| event_json(e, start)).collect::<Vec<_>>(),
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

pub fn analyses(
    store: &EventStore,
    id: StreamId,
) -> Result<Option<Vec<analyses::Run>>, StoreError> {
    let events = store.read_stream(id, 0)?;
    Ok((!events.is_empty()).then(|| analyses::runs(&events)))
}

pub fn metrics(
    model: &ReadModel,
    app: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> metrics::Metrics {
    let model = model.read();
    let records: Vec<_> = model
        .records()
        .iter()
        .filter(|r| app.is_none_or(|a| r.app == a))
        .filter(|r| since.is_none_or(|s| r.started_at >= s))
        .collect();
    metrics::compute(&records, since, Utc::now())
}

/// Rollback state per app (DESIGN.md's field names).
pub fn status(model: &ReadModel, app: Option<&str>) -> Vec<Value> {
    let model = model.read();
    let mut out = Vec::new();
    for (name, state) in model.apps() {
        if app.is_some_and(|a| a != name) {
            continue;
        }
        let candidate = state.active.and_then(|id| {
            model.record(id).map(
                |r| json!({ "id": id, "release": r.release, "phase": r.stage, "weight": r.weight }),
            )
        });
        // Green's share while a canary splits the app's traffic.
        let weight = state
            .active
            .and_then(|id| model.record(id))
            .and_then(|r| r.weight);
        let digest_of = |deployment: Option<StreamId>| {
            deployment.and_then(|id| model.record(id)?.digest.clone())
        };
        let live_digest = digest_of(state.live.as_ref().and_then(|l| l.deployment_id()));
        let live_by = state
            .live
            .as_ref()
            .and_then(|l| l.deployment_id())
            .and_then(|id| model.record(id))
            .map(|r| r.requested_by.clone());
        out.push(json!({
            "app": name,
            "url": state.public.as_ref().map(|listen| format!("http://{listen}/")),
            "digest": live_digest,
            "weight": weight,
            "live": state.live.as_ref().map(|l| json!({
                "slot": l.slot,
                "release": l.release,
                "endpoint": l.endpoint,
                "since": state.live_since,
                "deployment": l.deployment,
                "deployed_by": live_by,
            })),
            "candidate": candidate,
            "retained": state.retained.iter().map(|r| json!({
                "release": r.release,
                "slot": r.slot,
                "stopped_at": r.stopped_at,
                "deployment": r.deployment,
                "digest": digest_of(Some(r.deployment)),
            })).collect::<Vec<_>>(),
        }));
    }
    out
}

/// What a replay found.
pub enum Replayed {
    State(Value),
    /// The log has no such deployment.
    NoDeployment,
    /// It exists, but its first event comes after the sequence asked for.
    NotStartedYet {
        first_seq: u64,
    },
}

/// A deployment's state as of global sequence `at` (or now).
pub fn replay(store: &EventStore, id: StreamId, at: Option<u64>) -> Result<Replayed, StoreError> {
    let all = store.read_stream(id, 0)?;
    let Some(first_seq) = all.first().map(|e| e.seq) else {
        return Ok(Replayed::NoDeployment);
    };
    let events: Vec<Envelope> = all
        .into_iter()
        .filter(|e| at.is_none_or(|at| e.seq <= at))
        .collect();
    if events.is_empty() {
        return Ok(Replayed::NotStartedYet { first_seq });
    }
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let start = events[0].recorded_at;
    Ok(Replayed::State(json!({
        "id": id,
        "as_of_seq": events.last().map(|e| e.seq),
        "events": events.len(),
        "timeline": events.iter().map(|e| event_json(e, start)).collect::<Vec<_>>(),
        "status": history::status_name(state.outcome()),
        "phase": state.stage(),
        "next_step": next_step(&state),
        "state": state,
    })))
}
