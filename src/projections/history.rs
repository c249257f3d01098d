//! Deployment history: one row per deployment, with DESIGN.md's `--json`
//! field names.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::Outcome;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    pub id: String,
    /// The shortest prefix of `id` no other deployment shares (at least
    /// 8 characters): what tables show, and what any command takes.
    pub short_id: String,
    pub app: String,
    pub release: String,
    pub status: &'static str,
    pub phase: &'static str,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub fix_iterations: u32,
    pub review_rounds: u32,
    /// The digest of the code the release ran (its snapshot's), once green
    /// started; `null` on the docker backend and before snapshots existed.
    pub digest: Option<String>,
    /// How traffic moves to the release: `bluegreen` (all at once) or
    /// `canary` (in steps).
    pub strategy: String,
    /// Green's share of the traffic while a canary splits it, else `null`.
    pub weight: Option<u8>,
    /// One sentence: why it ended as it did (`null` while in progress).
    pub reason: Option<String>,
}

/// History's `status`: the ending's name, or `in_progress` before it.
pub fn status_name(outcome: Option<Outcome>) -> &'static str {
    outcome.map_or("in_progress", Outcome::name)
}

/// The row of a deployment the read model keeps.
pub fn row_of(record: &super::model::Record) -> HistoryRow {
    HistoryRow {
        id: record.id.to_string(),
        short_id: record.id.to_string(),
        app: record.app.clone(),
        release: record.release.clone(),
        status: status_name(record.outcome),
        phase: stage_name(&record.stage),
        started_at: Some(record.started_at),
        finished_at: record.finished_at.filter(|_| record.outcome.is_some()),
        duration_ms: record
            .finished_at
            .filter(|_| record.outcome.is_some())
            .map(|end| (end - record.started_at).num_milliseconds()),
        fix_iterations: record.fixes.total(),
        review_rounds: record.review_rounds,
        digest: record.digest.clone(),
        strategy: record.strategy.clone(),
        weight: record.weight,
        reason: record.reason.clone().filter(|_| record.outcome.is_some()),
    }
}

/// The stage names `Deployment::stage` gives, as static strings.
fn stage_name(stage: &str) -> &'static str {
    [
        "prepare",
        "fix",
        "test",
        "review",
        "manual_gate",
        "analysis",
        "canary",
        "completion",
        "rollback",
        "done",
    ]
    .into_iter()
    .find(|s| *s == stage)
    .unwrap_or("prepare")
}
