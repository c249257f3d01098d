//! Efficiency metrics over deployments: the process document's success
//! metrics and the four DORA measures, with DESIGN.md's `--json` field
//! names (and a few more after them). Computed from the read model's
//! records, per app and over a window.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{AnalysisRuns, Record};
use crate::events::Outcome;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Durations {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixIterations {
    pub mean: f64,
    pub max: u32,
    pub by_tier: BTreeMap<&'static str, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewOutcomes {
    pub consensus: u32,
    pub fixes_requested: u32,
    pub major_flaws: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub deployments: u32,
    pub promoted: u32,
    pub rolled_back: u32,
    pub returned: u32,
    pub success_rate: f64,
    pub duration_ms: Durations,
    pub fix_iterations: FixIterations,
    pub review_outcomes: ReviewOutcomes,
    /// Of the releases that went live, the share later rolled back (DORA).
    pub change_failure_rate: f64,
    /// Deployments per day over the window (DORA's frequency counts the
    /// promoted ones: `promotions_per_day`).
    pub deployments_per_day: f64,
    /// From a rollback after promotion to traffic restored (DORA).
    pub mean_time_to_restore_ms: Option<i64>,
    pub promotions_per_day: f64,
    /// From the release's commit to it serving (DORA), where known.
    pub lead_time_ms: Durations,
    /// Share of deployments whose last test run passed.
    pub tests_passed_rate: f64,
    pub in_progress: u32,
    /// Deployments a failed analysis (before or after the switch) or a
    /// firing alert rolled back.
    pub automated_rollbacks: u32,
    /// Analysis runs by how they ended.
    pub analysis_runs: AnalysisRuns,
    /// From the switch to the rollback a post-promotion analysis started.
    pub time_to_detect_ms: Durations,
}

fn percentiles(mut values: Vec<i64>) -> Durations {
    values.sort_unstable();
    let at = |p: f64| {
        if values.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
        values.get(rank.clamp(1, values.len()) - 1).copied()
    };
    Durations {
        p50: at(50.0),
        p90: at(90.0),
        max: values.last().copied(),
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// Metrics over `records` (already filtered by app and window); `from`
/// starts the window (default: the first deployment), `now` ends it.
pub fn compute(records: &[&Record], from: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Metrics {
    let count = |outcome: Outcome| {
        records
            .iter()
            .filter(|r| r.outcome == Some(outcome))
            .count() as u32
    };
    let (promoted, rolled_back, returned) = (
        count(Outcome::Promoted),
        count(Outcome::RolledBack),
        count(Outcome::Returned),
    );
    let finished = records.iter().filter(|r| r.outcome.is_some()).count() as u32;
    let total = records.len() as u32;
    let durations = records
        .iter()
        .filter_map(|r| r.finished_at.map(|f| (f - r.started_at).num_milliseconds()))
        .collect();
    let lead_times = records
        .iter()
        .filter_map(|r| Some((r.went_live_at? - r.committed_at?).num_milliseconds()))
        .collect();
    let sum = |f: fn(&Record) -> u32| records.iter().map(|r| f(r)).sum::<u32>();
    let by_tier: BTreeMap<&'static str, u32> = [
        ("driver", sum(|r| r.fixes.driver)),
        ("senior", sum(|r| r.fixes.senior)),
        ("trio", sum(|r| r.fixes.trio)),
    ]
    .into_iter()
    .collect();
    let fix_totals: Vec<u32> = records.iter().map(|r| r.fixes.total()).collect();
    let went_live = records.iter().filter(|r| r.went_live_at.is_some()).count() as u32;
    let failed_changes = records
        .iter()
        .filter(|r| r.rolled_back_after_promotion)
        .count() as u32;
    let restores: Vec<i64> = records
        .iter()
        .flat_map(|r| r.restores_ms.iter().copied())
        .collect();
    let start = from.or_else(|| records.iter().map(|r| r.started_at).min());
    let days = start.map_or(1.0, |s| {
        ((now - s).num_seconds() as f64 / 86_400.0).max(1.0)
    });
    let tested: Vec<&&Record> = records
        .iter()
        .filter(|r| r.tests_failed.is_some())
        .collect();
    let tests_passed = tested.iter().filter(|r| r.tests_failed == Some(0)).count() as u32;
    Metrics {
        deployments: total,
        promoted,
        rolled_back,
        returned,
        success_rate: ratio(promoted, finished),
        duration_ms: percentiles(durations),
        fix_iterations: FixIterations {
            mean: if total == 0 {
                0.0
            } else {
                f64::from(fix_totals.iter().sum::<u32>()) / f64::from(total)
            },
            max: fix_totals.iter().copied().max().unwrap_or(0),
            by_tier,
        },
        review_outcomes: ReviewOutcomes {
            consensus: sum(|r| r.consensus),
            fixes_requested: sum(|r| r.fixes_requested),
            major_flaws: sum(|r| r.major_flaws),
        },
        change_failure_rate: ratio(failed_changes, went_live),
        deployments_per_day: f64::from(total) / days,
        mean_time_to_restore_ms: (!restores.is_empty())
            .then(|| restores.iter().sum::<i64>() / restores.len() as i64),
        promotions_per_day: f64::from(went_live) / days,
        lead_time_ms: percentiles(lead_times),
        tests_passed_rate: ratio(tests_passed, tested.len() as u32),
        in_progress: total - finished,
        automated_rollbacks: records.iter().filter(|r| r.automated_rollback).count() as u32,
        analysis_runs: AnalysisRuns {
            successful: sum(|r| r.analysis_runs.successful),
            failed: sum(|r| r.analysis_runs.failed),
            inconclusive: sum(|r| r.analysis_runs.inconclusive),
        },
        time_to_detect_ms: percentiles(
            records.iter().filter_map(|r| r.time_to_detect_ms).collect(),
        ),
    }
}
