//! One measurement's verdict, pure: what a provider read, against the
//! metric's conditions and its `min_requests`. Argo's rules, stricter where
//! a measurement says nothing: too few requests is inconclusive, never a
//! pass; a condition that does not give a boolean is an error.

use serde_json::Value;

use crate::config::{Condition, Conditions, Measure, Metric};
use crate::events::MeasurementVerdict;

/// What a provider read for one metric over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The result, or why none could be read.
    pub value: Result<Value, String>,
    /// For a comparison: the baseline's (blue's) result.
    pub baseline: Option<Value>,
    /// Requests the window saw, where the provider counts them (the
    /// fewer side of a comparison).
    pub requests: Option<u64>,
}

/// The verdict and the words that say why.
pub fn verdict(metric: &Metric, reading: &Reading) -> (MeasurementVerdict, String) {
    let value = match &reading.value {
        Ok(value) => value,
        Err(why) => return (MeasurementVerdict::Error, why.clone()),
    };
    // A comparison with a side that saw nothing has no evidence either way,
    // whatever `min_requests` says: never a pass.
    let least = if metric.measure.is_some_and(|m| m.compares()) {
        metric.min_requests.0.max(1)
    } else {
        metric.min_requests.0
    };
    if let Some(requests) = reading.requests
        && requests < least
    {
        return (
            MeasurementVerdict::Inconclusive,
            format!(
                "{requests} request{} in the window, fewer than min_requests ({})",
                if requests == 1 { "" } else { "s" },
                least
            ),
        );
    }
    let baseline = reading.baseline.as_ref();
    let check = |condition: &Condition| condition.holds(value, baseline);
    let failure = metric.condition(Conditions::Failure);
    let success = metric.condition(Conditions::Success);
    if let Some(failure) = &failure {
        match check(failure) {
            Ok(true) => {
                return (
                    MeasurementVerdict::Failed,
                    format!("failure `{}` holds", failure.source()),
                );
            }
            Ok(false) => {}
            Err(why) => return (MeasurementVerdict::Error, why),
        }
    }
    match (&success, &failure) {
        (Some(success), _) => match check(success) {
            Ok(true) => (
                MeasurementVerdict::Successful,
                format!("success `{}` holds", success.source()),
            ),
            // With a failure condition too, neither holding says nothing.
            Ok(false) if failure.is_some() => (
                MeasurementVerdict::Inconclusive,
                format!(
                    "neither success `{}` nor failure `{}` holds",
                    success.source(),
                    failure.as_ref().map_or("", |f| f.source())
                ),
            ),
            Ok(false) => (
                MeasurementVerdict::Failed,
                format!("success `{}` does not hold", success.source()),
            ),
            Err(why) => (MeasurementVerdict::Error, why),
        },
        (None, Some(failure)) => (
            MeasurementVerdict::Successful,
            format!("failure `{}` does not hold", failure.source()),
        ),
        (None, None) => match metric.measure {
            Some(measure) if measure.compares() => significantly_worse(measure, value),
            _ => (
                MeasurementVerdict::Successful,
                "measured (the metric has no condition)".into(),
            ),
        },
    }
}

/// How much slower green may be at p50 or p99 before a significant
/// difference fails it: a p-value alone flags differences too small to
/// matter once the samples are large.
pub const LATENCY_RATIO_GUARD: f64 = 1.2;
/// Below this p-value a difference is taken as real.
pub const SIGNIFICANCE: f64 = 0.05;

/// A comparison with no condition of its own passes unless green is
/// significantly worse than blue (and, for latency, by more than the
/// guard).
fn significantly_worse(measure: Measure, value: &Value) -> (MeasurementVerdict, String) {
    let field = |name: &str| value.get(name).and_then(Value::as_f64);
    let Some(p) = field("p_value") else {
        return (MeasurementVerdict::Error, format!("no p_value in {value}"));
    };
    let (worse, what) = if measure == Measure::CompareLatency {
        let (p50, p99) = (
            field("ratio_p50").unwrap_or(1.0),
            field("ratio_p99").unwrap_or(1.0),
        );
        (
            p < SIGNIFICANCE && p50.max(p99) > LATENCY_RATIO_GUARD,
            format!("green against blue: p = {p:.4}, p50 ×{p50:.2}, p99 ×{p99:.2}"),
        )
    } else {
        let (rate, baseline) = (
            field("rate").unwrap_or(0.0),
            field("baseline_rate").unwrap_or(0.0),
        );
        (
            p < SIGNIFICANCE,
            format!("green against blue: p = {p:.4}, errors {rate:.4} against {baseline:.4}"),
        )
    };
    if worse {
        (
            MeasurementVerdict::Failed,
            format!("significantly worse: {what}"),
        )
    } else {
        (
            MeasurementVerdict::Successful,
            format!("not significantly worse: {what}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metric(success: &str, failure: &str) -> Metric {
        let text = format!(
            "name = \"m\"\nprovider = \"exec\"\ncommand = \"true\"\nsuccess = {success:?}\nfailure = {failure:?}\n"
        );
        toml::from_str(&text).expect("a metric")
    }

    fn read(value: Value, requests: Option<u64>) -> Reading {
        Reading {
            value: Ok(value),
            baseline: None,
            requests,
        }
    }

    #[test]
    fn conditions_give_argos_verdicts() {
        let both = metric("result >= 0.99", "result < 0.9");
        assert_eq!(
            verdict(&both, &read(json!(1.0), None)).0,
            MeasurementVerdict::Successful
        );
        assert_eq!(
            verdict(&both, &read(json!(0.5), None)).0,
            MeasurementVerdict::Failed
        );
        assert_eq!(
            verdict(&both, &read(json!(0.95), None)).0,
            MeasurementVerdict::Inconclusive
        );
        let success_only = metric("result >= 0.99", "");
        assert_eq!(
            verdict(&success_only, &read(json!(0.95), None)).0,
            MeasurementVerdict::Failed
        );
        let none = metric("", "");
        assert_eq!(
            verdict(&none, &read(json!(0.0), None)).0,
            MeasurementVerdict::Successful
        );
    }

    #[test]
    fn too_few_requests_is_inconclusive_never_a_pass() {
        let m = metric("result >= 0.99", "");
        let (verdict, why) = verdict(&m, &read(json!(1.0), Some(3)));
        assert_eq!(verdict, MeasurementVerdict::Inconclusive);
        assert_eq!(
            why,
            "3 requests in the window, fewer than min_requests (20)"
        );
    }

    #[test]
    fn a_comparison_with_an_idle_side_is_inconclusive_even_with_min_requests_0() {
        let text =
            "name = \"c\"\nprovider = \"router\"\nmeasure = \"compare_errors\"\nmin_requests = 0\n";
        let compare: Metric = toml::from_str(text).expect("a metric");
        let reading = read(
            json!({"p_value": 1.0, "rate": 0.0, "baseline_rate": 0.0}),
            Some(0),
        );
        let (verdict, why) = verdict(&compare, &reading);
        assert_eq!(verdict, MeasurementVerdict::Inconclusive);
        assert_eq!(why, "0 requests in the window, fewer than min_requests (1)");
    }

    #[test]
    fn a_provider_error_or_a_condition_that_is_not_boolean_is_an_error() {
        let m = metric("result.rate > 1", "");
        let failed_read = Reading {
            value: Err("connection refused".into()),
            baseline: None,
            requests: None,
        };
        assert_eq!(verdict(&m, &failed_read).0, MeasurementVerdict::Error);
        assert_eq!(
            verdict(&m, &read(json!(3), None)).0,
            MeasurementVerdict::Error
        );
    }
}
