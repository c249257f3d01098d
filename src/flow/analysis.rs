//! Analysis runs, pure: a template's limits (`AnalysisLimits`, from the
//! config), the tally folded from `analysis_measured` events (`RunTally`)
//! and `judge`, which turns the tally into the run's verdict the moment
//! the limits decide it. Argo's rules: a metric fails the run after more
//! than `failure_limit` failed measurements or more than
//! `consecutive_error_limit` errors in a row; more than
//! `inconclusive_limit` inconclusive ones make the run inconclusive; a run
//! that measured `count` times without either succeeds. A dry run is
//! measured and recorded the same way and always succeeds, saying what it
//! would have done.

use serde::{Deserialize, Serialize};

use crate::events::payloads::AnalysisMeasured;
use crate::events::{AnalysisPhase, MeasurementVerdict, RunVerdict};

/// A template as the flow needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisLimits {
    pub interval_ms: u64,
    /// Measurements per metric; 0: until the phase ends.
    pub count: u32,
    pub initial_delay_ms: u64,
    pub failure_limit: u32,
    pub consecutive_error_limit: u32,
    pub inconclusive_limit: u32,
    pub dry_run: bool,
    /// The template's metrics, in the config's order.
    pub metrics: Vec<String>,
}

impl AnalysisLimits {
    pub fn of(template: &crate::config::AnalysisTemplate) -> AnalysisLimits {
        AnalysisLimits {
            interval_ms: template.interval_s.0 * 1000,
            count: template.count.count(),
            initial_delay_ms: template.initial_delay_s.0 * 1000,
            failure_limit: template.failure_limit.count(),
            consecutive_error_limit: template.consecutive_error_limit.count(),
            inconclusive_limit: template.inconclusive_limit.count(),
            dry_run: template.dry_run,
            metrics: template
                .metrics
                .iter()
                .map(|m| m.get_ref().name.clone())
                .collect(),
        }
    }

    /// How long the shell waits before taking measurement `index`: each
    /// measurement covers the window of one interval, the first after the
    /// initial delay.
    pub fn wait_ms(&self, index: u32) -> u64 {
        let delay = if index == 0 { self.initial_delay_ms } else { 0 };
        delay + self.interval_ms
    }
}

/// One metric's measurements so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricTally {
    pub metric: String,
    pub measured: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub errors: u32,
    pub consecutive_errors: u32,
}

impl MetricTally {
    fn add(&mut self, verdict: MeasurementVerdict) {
        self.measured += 1;
        match verdict {
            MeasurementVerdict::Successful => self.successful += 1,
            MeasurementVerdict::Failed => self.failed += 1,
            MeasurementVerdict::Inconclusive => self.inconclusive += 1,
            MeasurementVerdict::Error => self.errors += 1,
        }
        if verdict == MeasurementVerdict::Error {
            self.consecutive_errors += 1;
        } else {
            self.consecutive_errors = 0;
        }
    }
}

/// The run in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTally {
    pub name: String,
    pub phase: AnalysisPhase,
    pub run: u32,
    pub metrics: Vec<MetricTally>,
}

impl RunTally {
    pub fn new(name: &str, phase: AnalysisPhase, run: u32, limits: &AnalysisLimits) -> RunTally {
        RunTally {
            name: name.to_string(),
            phase,
            run,
            metrics: limits
                .metrics
                .iter()
                .map(|metric| MetricTally {
                    metric: metric.clone(),
                    ..MetricTally::default()
                })
                .collect(),
        }
    }

    /// Counts a measurement once: one of a metric the template does not
    /// have, or of an index already counted (a replay after a crash),
    /// changes nothing.
    pub fn add(&mut self, measured: &AnalysisMeasured) {
        if let Some(tally) = self
            .metrics
            .iter_mut()
            .find(|t| t.metric == measured.metric && t.measured == measured.index)
        {
            tally.add(measured.verdict);
        }
    }

    /// The index every metric is measured next at.
    pub fn next_index(&self) -> u32 {
        self.metrics.iter().map(|t| t.measured).min().unwrap_or(0)
    }
}

/// The run's verdict once the limits decide it, with the rule in words;
/// `None` while it goes on.
/// `window_ms` is how long a run without a count (`count = 0`) lasts: the
/// phase's length, as the measurements' windows add up.
pub fn judge(
    limits: &AnalysisLimits,
    tally: &RunTally,
    window_ms: Option<u64>,
) -> Option<(RunVerdict, String)> {
    let measured = tally.next_index();
    let done = if limits.count > 0 {
        measured >= limits.count
    } else {
        let covered = limits.initial_delay_ms + u64::from(measured) * limits.interval_ms;
        measured > 0 && window_ms.is_some_and(|window| covered >= window)
    };
    let verdict = limit_reached(limits, tally).or_else(|| {
        done.then(|| {
            (
                RunVerdict::Successful,
                format!(
                    "{measured} measurement{} of every metric within the limits",
                    if measured == 1 { "" } else { "s" }
                ),
            )
        })
    });
    match verdict {
        Some((RunVerdict::Successful, why)) => Some((RunVerdict::Successful, why)),
        Some((verdict, why)) if limits.dry_run => done.then(|| {
            (
                RunVerdict::Successful,
                format!("dry run: would have been {}: {why}", verdict.name()),
            )
        }),
        other => other,
    }
}

/// The first metric, in the template's order, whose failures, errors or
/// inconclusive measurements passed their limit.
fn limit_reached(limits: &AnalysisLimits, tally: &RunTally) -> Option<(RunVerdict, String)> {
    tally.metrics.iter().find_map(|t| {
        if t.failed > limits.failure_limit {
            Some((
                RunVerdict::Failed,
                format!(
                    "metric `{}` failed {} time{} (failure_limit {})",
                    t.metric,
                    t.failed,
                    if t.failed == 1 { "" } else { "s" },
                    limits.failure_limit
                ),
            ))
        } else if t.consecutive_errors > limits.consecutive_error_limit {
            Some((
                RunVerdict::Failed,
                format!(
                    "metric `{}` could not be measured {} times in a row (consecutive_error_limit {})",
                    t.metric, t.consecutive_errors, limits.consecutive_error_limit
                ),
            ))
        } else if t.inconclusive > limits.inconclusive_limit {
            Some((
                RunVerdict::Inconclusive,
                format!(
                    "metric `{}` was inconclusive {} time{} (inconclusive_limit {})",
                    t.metric,
                    t.inconclusive,
                    if t.inconclusive == 1 { "" } else { "s" },
                    limits.inconclusive_limit
                ),
            ))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits(
        count: u32,
        failure: u32,
        errors: u32,
        inconclusive: u32,
        dry_run: bool,
    ) -> AnalysisLimits {
        AnalysisLimits {
            interval_ms: 1000,
            count,
            initial_delay_ms: 0,
            failure_limit: failure,
            consecutive_error_limit: errors,
            inconclusive_limit: inconclusive,
            dry_run,
            metrics: vec!["m".into()],
        }
    }

    fn measured(index: u32, verdict: MeasurementVerdict) -> AnalysisMeasured {
        AnalysisMeasured {
            name: "t".into(),
            metric: "m".into(),
            index,
            value: serde_json::json!(1.0),
            baseline: None,
            verdict,
            detail: String::new(),
        }
    }

    fn verdict() -> impl Strategy<Value = MeasurementVerdict> {
        prop_oneof![
            Just(MeasurementVerdict::Successful),
            Just(MeasurementVerdict::Failed),
            Just(MeasurementVerdict::Inconclusive),
            Just(MeasurementVerdict::Error),
        ]
    }

    /// The verdict the limits say, computed the long way: at each
    /// measurement, the counts so far against the limits.
    fn expected(
        limits: &AnalysisLimits,
        verdicts: &[MeasurementVerdict],
    ) -> Option<(RunVerdict, usize)> {
        let (mut failed, mut inconclusive, mut in_a_row) = (0, 0, 0);
        for (i, v) in verdicts.iter().enumerate() {
            match v {
                MeasurementVerdict::Failed => failed += 1,
                MeasurementVerdict::Inconclusive => inconclusive += 1,
                _ => {}
            }
            in_a_row = if *v == MeasurementVerdict::Error {
                in_a_row + 1
            } else {
                0
            };
            let decided =
                if failed > limits.failure_limit || in_a_row > limits.consecutive_error_limit {
                    Some(RunVerdict::Failed)
                } else if inconclusive > limits.inconclusive_limit {
                    Some(RunVerdict::Inconclusive)
                } else if limits.count > 0 && i + 1 >= limits.count as usize {
                    Some(RunVerdict::Successful)
                } else {
                    None
                };
            let counted_out = limits.count > 0 && i + 1 >= limits.count as usize;
            match decided {
                Some(_) if limits.dry_run && counted_out => {
                    return Some((RunVerdict::Successful, i));
                }
                Some(_) if limits.dry_run => {}
                Some(verdict) => return Some((verdict, i)),
                None => {}
            }
        }
        None
    }

    proptest! {
        /// Any sequence of measurements ends the run where, and how, the
        /// limits say; before that it goes on.
        #[test]
        fn any_sequence_of_measurements_gives_the_verdict_the_limits_say(
            count in 0u32..8,
            failure in 0u32..3,
            errors in 0u32..3,
            inconclusive in 0u32..3,
            dry_run in any::<bool>(),
            verdicts in proptest::collection::vec(verdict(), 0..12),
        ) {
            let limits = limits(count, failure, errors, inconclusive, dry_run);
            let mut tally = RunTally::new("t", AnalysisPhase::PrePromotion, 1, &limits);
            let want = expected(&limits, &verdicts);
            for (i, v) in verdicts.iter().enumerate() {
                tally.add(&measured(i as u32, *v));
                let got = judge(&limits, &tally, None).map(|(verdict, _)| verdict);
                match want {
                    Some((verdict, at)) if at == i => {
                        prop_assert_eq!(got, Some(verdict));
                        break;
                    }
                    _ => prop_assert_eq!(got, None, "decided early at {}", i),
                }
            }
            if dry_run {
                prop_assert!(want.is_none_or(|(v, _)| v == RunVerdict::Successful));
            }
        }

        /// A measurement counted twice (a replay after a crash) counts once.
        #[test]
        fn a_measurement_replayed_counts_once(verdicts in proptest::collection::vec(verdict(), 1..8)) {
            let limits = limits(0, 100, 100, 100, false);
            let mut once = RunTally::new("t", AnalysisPhase::PrePromotion, 1, &limits);
            let mut twice = once.clone();
            for (i, v) in verdicts.iter().enumerate() {
                once.add(&measured(i as u32, *v));
                twice.add(&measured(i as u32, *v));
                twice.add(&measured(i as u32, *v));
            }
            prop_assert_eq!(once, twice);
        }
    }

    #[test]
    fn the_reason_names_the_metric_and_the_limit() {
        let limits = limits(5, 1, 4, 0, false);
        let mut tally = RunTally::new("t", AnalysisPhase::PrePromotion, 1, &limits);
        tally.add(&measured(0, MeasurementVerdict::Failed));
        assert_eq!(judge(&limits, &tally, None), None);
        tally.add(&measured(1, MeasurementVerdict::Failed));
        let (verdict, why) = judge(&limits, &tally, None).unwrap();
        assert_eq!(verdict, RunVerdict::Failed);
        assert_eq!(why, "metric `m` failed 2 times (failure_limit 1)");
    }
}
