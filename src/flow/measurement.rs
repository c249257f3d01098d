//! One measurement's verdict, pure: what a provider read, against the
//! metric's conditions and its `min_requests`. Argo's rules, stricter where
//! a measurement says nothing: too few requests is inconclusive, never a
//! pass; a condition that does not give a boolean is an error.

use serde_json::Value;

use crate::config::{Condition, Conditions, Metric};
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
    if let Some(requests) = reading.requests
        && requests < metric.min_requests.0
    {
        return (
            MeasurementVerdict::Inconclusive,
            format!(
                "{requests} request{} in the window, fewer than min_requests ({})",
                if requests == 1 { "" } else { "s" },
                metric.min_requests.0
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
        (None, None) => (
            MeasurementVerdict::Successful,
            "measured (the metric has no condition)".into(),
        ),
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
