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

impl Measurement {
    /// The number a chart draws for this measurement and its baseline's:
    /// a plain number as it is; a comparison by its effect (`ratio_p99`
    /// of latency, green's error `rate` against `baseline_rate`). None for
    /// an error or a value with no number.
    pub fn plotted(&self) -> (Option<f64>, Option<f64>) {
        let value = match &self.value {
            serde_json::Value::Object(fields) => ["ratio_p99", "rate"]
                .iter()
                .find_map(|key| fields.get(*key).and_then(serde_json::Value::as_f64)),
            other => other.as_f64(),
        };
        let baseline = match (&self.value, &self.baseline) {
            (serde_json::Value::Object(fields), _) if fields.contains_key("rate") => fields
                .get("baseline_rate")
                .and_then(serde_json::Value::as_f64),
            // A latency ratio's baseline is 1 by construction: not drawn.
            (serde_json::Value::Object(_), _) => None,
            (_, Some(baseline)) => baseline.as_f64(),
            (_, None) => None,
        };
        (value, baseline)
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn measured(value: serde_json::Value, baseline: Option<serde_json::Value>) -> Measurement {
        Measurement {
            name: "a".into(),
            phase: "post_promotion",
            run: 1,
            metric: "m".into(),
            index: 0,
            at: DateTime::<Utc>::default(),
            value,
            baseline,
            verdict: "successful",
            detail: String::new(),
        }
    }

    #[test]
    fn a_chart_draws_numbers_and_the_effect_of_a_comparison() {
        assert_eq!(measured(json!(0.97), None).plotted(), (Some(0.97), None));
        assert_eq!(
            measured(json!(12.0), Some(json!(10.0))).plotted(),
            (Some(12.0), Some(10.0))
        );
        let latency = json!({"p_value": 0.001, "ratio_p50": 4.8, "ratio_p99": 5.1});
        assert_eq!(
            measured(latency, Some(json!({"p50": 2.0, "p99": 3.0}))).plotted(),
            (Some(5.1), None)
        );
        let errors = json!({"p_value": 0.01, "rate": 0.3, "baseline_rate": 0.0});
        assert_eq!(measured(errors, None).plotted(), (Some(0.3), Some(0.0)));
        assert_eq!(measured(json!(null), None).plotted(), (None, None));
        assert_eq!(measured(json!([1, 2]), None).plotted(), (None, None));
    }
}
