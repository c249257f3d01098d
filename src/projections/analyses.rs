//! Every analysis measurement of one deployment, in order, with DESIGN.md's
//! `analysis --json` field names, and each run's ending: what `deployflow
//! analysis ID` prints and the report quotes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::payloads::{AnalysisCompleted, AnalysisMeasured, AnalysisStarted};
use crate::events::{Envelope, Event};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    pub name: String,
    pub phase: &'static str,
    pub run: u32,
    pub metric: String,
    pub index: u32,
    pub at: DateTime<Utc>,
    pub value: serde_json::Value,
    pub baseline: Option<serde_json::Value>,
    pub verdict: &'static str,
    /// Why: the condition that decided, the provider's error.
    pub detail: String,
}

/// A run and how it ended (`verdict` and `reason` absent while it runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub name: String,
    pub phase: &'static str,
    pub run: u32,
    pub started_at: DateTime<Utc>,
    pub verdict: Option<&'static str>,
    pub reason: Option<String>,
    pub measurements: Vec<Measurement>,
}

pub fn runs(events: &[Envelope]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for envelope in events {
        match &envelope.event {
            Event::AnalysisStarted(AnalysisStarted { name, phase, run }) => runs.push(Run {
                name: name.clone(),
                phase: phase.name(),
                run: *run,
                started_at: envelope.recorded_at,
                verdict: None,
                reason: None,
                measurements: Vec::new(),
            }),
            Event::AnalysisMeasured(measured) => {
                if let Some(run) = runs.last_mut().filter(|r| r.name == measured.name) {
                    let row = row(run, envelope.recorded_at, measured);
                    run.measurements.push(row);
                }
            }
            Event::AnalysisCompleted(AnalysisCompleted {
                name,
                verdict,
                reason,
                ..
            }) => {
                if let Some(run) = runs.last_mut().filter(|r| &r.name == name) {
                    run.verdict = Some(verdict.name());
                    run.reason = Some(reason.clone());
                }
            }
            _ => {}
        }
    }
    runs
}

fn row(run: &Run, at: DateTime<Utc>, measured: &AnalysisMeasured) -> Measurement {
    Measurement {
        name: measured.name.clone(),
        phase: run.phase,
        run: run.run,
        metric: measured.metric.clone(),
        index: measured.index,
        at,
        value: measured.value.clone(),
        baseline: measured.baseline.clone(),
        verdict: measured.verdict.name(),
        detail: measured.detail.clone(),
    }
}
