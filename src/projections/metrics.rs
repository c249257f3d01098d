//! Efficiency metrics over deployments (the process document's "Success
//! Metrics"), with DESIGN.md's `--json` field names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::history::HistoryRow;
use crate::events::{Envelope, Event, Tier};

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
    pub change_failure_rate: f64,
    pub deployments_per_day: f64,
    pub mean_time_to_restore_ms: Option<i64>,
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Metrics over `deployments`: each one's history row and events.
pub fn compute(deployments: &[(HistoryRow, Vec<Envelope>)], now: DateTime<Utc>) -> Metrics {
    let count = |status: &str| {
        deployments
            .iter()
            .filter(|(r, _)| r.status == status)
            .count() as u32
    };
    let (promoted, rolled_back, returned) =
        (count("promoted"), count("rolled_back"), count("returned"));
    let finished = deployments
        .iter()
        .filter(|(r, _)| r.status != "in_progress")
        .count() as u32;
    let mut durations: Vec<i64> = deployments
        .iter()
        .filter_map(|(r, _)| r.duration_ms)
        .collect();
    durations.sort_unstable();
    let mut by_tier: BTreeMap<&'static str, u32> = [("driver", 0), ("senior", 0), ("trio", 0)]
        .into_iter()
        .collect();
    let (mut consensus, mut fixes_requested, mut major_flaws) = (0, 0, 0);
    let mut changes_failed = 0;
    let mut restores = Vec::new();
    for (_, events) in deployments {
        let mut restore_started = None;
        let mut was_promoted = false;
        for envelope in events {
            match &envelope.event {
                Event::FixAttempted { tier, .. } => {
                    let name = match tier {
                        Tier::Driver => "driver",
                        Tier::Senior => "senior",
                        Tier::Trio => "trio",
                    };
                    *by_tier.entry(name).or_default() += 1;
                }
                Event::DecisionMade { decision, .. } => {
                    use crate::events::Decision::*;
                    match decision {
                        Promote | AwaitManualApproval => consensus += 1,
                        FixesNeeded => fixes_requested += 1,
                        ReturnToDevelopment => major_flaws += 1,
                        Rollback => {}
                    }
                }
                Event::TrafficSwitched { .. } if restore_started.is_none() => was_promoted = true,
                Event::RollbackStarted {
                    after_promotion: true,
                    ..
                } => restore_started = Some(envelope.recorded_at),
                Event::RollbackCompleted { .. } => {
                    if let Some(start) = restore_started.take() {
                        restores.push((envelope.recorded_at - start).num_milliseconds());
                    }
                }
                _ => {}
            }
        }
        // A change failed in production when it went live and was then
        // rolled back.
        if was_promoted
            && events.iter().any(|e| {
                matches!(
                    e.event,
                    Event::RollbackStarted {
                        after_promotion: true,
                        ..
                    }
                )
            })
        {
            changes_failed += 1;
        }
    }
    let fix_counts: Vec<u32> = deployments.iter().map(|(r, _)| r.fix_iterations).collect();
    let total = deployments.len() as u32;
    let first = deployments.iter().filter_map(|(r, _)| r.started_at).min();
    let days = first.map_or(1.0, |f| {
        ((now - f).num_seconds() as f64 / 86_400.0).max(1.0)
    });
    let went_live = deployments
        .iter()
        .filter(|(_, events)| {
            events
                .iter()
                .any(|e| matches!(e.event, Event::TrafficSwitched { .. }))
        })
        .count() as u32;
    Metrics {
        deployments: total,
        promoted,
        rolled_back,
        returned,
        success_rate: ratio(promoted, finished),
        duration_ms: Durations {
            p50: percentile(&durations, 50.0),
            p90: percentile(&durations, 90.0),
            max: durations.last().copied(),
        },
        fix_iterations: FixIterations {
            mean: if total == 0 {
                0.0
            } else {
                fix_counts.iter().sum::<u32>() as f64 / total as f64
            },
            max: fix_counts.iter().copied().max().unwrap_or(0),
            by_tier,
        },
        review_outcomes: ReviewOutcomes {
            consensus,
            fixes_requested,
            major_flaws,
        },
        change_failure_rate: ratio(changes_failed, went_live),
        deployments_per_day: total as f64 / days,
        mean_time_to_restore_ms: (!restores.is_empty())
            .then(|| restores.iter().sum::<i64>() / restores.len() as i64),
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
