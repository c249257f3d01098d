//! Deployment history: one row per deployment, with DESIGN.md's `--json`
//! field names.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Envelope, Outcome};
use crate::flow::Deployment;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    pub id: String,
    pub app: String,
    pub release: String,
    pub status: &'static str,
    pub phase: &'static str,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub fix_iterations: u32,
    pub review_rounds: u32,
}

pub fn status_name(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        None => "in_progress",
        Some(Outcome::Promoted) => "promoted",
        Some(Outcome::RolledBack) => "rolled_back",
        Some(Outcome::Returned) => "returned",
        Some(Outcome::Rejected) => "rejected",
        Some(Outcome::Failed) => "failed",
        Some(Outcome::Aborted) => "aborted",
    }
}

/// The row of one deployment, from its events in order.
pub fn row(events: &[Envelope]) -> Option<HistoryRow> {
    let first = events.first()?;
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let started_at = Some(first.recorded_at);
    // Finished at its (latest) `Completed`; a rollback after promotion
    // moves it.
    let finished_at = state.outcome().and_then(|_| {
        events
            .iter()
            .rev()
            .find(|e| e.event.kind() == crate::events::EventKind::Completed)
            .map(|e| e.recorded_at)
    });
    Some(HistoryRow {
        id: first.stream.to_string(),
        app: state.app.clone(),
        release: state.release.clone(),
        status: status_name(state.outcome()),
        phase: state.stage(),
        started_at,
        finished_at,
        duration_ms: finished_at.map(|end| (end - first.recorded_at).num_milliseconds()),
        fix_iterations: state.fixes.total(),
        review_rounds: state.round,
    })
}
