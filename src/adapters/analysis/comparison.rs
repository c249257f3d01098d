//! A comparison's reading, the same whichever provider saw the two sides
//! (the built-in load's samples, the router's counters): green's figures
//! against blue's in the same window, `requests` the fewer side's, in the
//! fields `analysis --json` and the conditions name.

use serde_json::json;

use crate::flow::compare::errors_p_value;
use crate::flow::measurement::Reading;

/// One side over the window.
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Summary {
    fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// `compare_errors`: `{p_value, rate, baseline_rate}`.
pub fn errors(green: &Summary, blue: &Summary) -> Reading {
    let p = errors_p_value((green.errors, green.requests), (blue.errors, blue.requests));
    Reading {
        value: Ok(
            json!({"p_value": p, "rate": green.error_rate(), "baseline_rate": blue.error_rate()}),
        ),
        baseline: Some(json!({"rate": blue.error_rate(), "requests": blue.requests})),
        requests: Some(green.requests.min(blue.requests)),
    }
}

/// `compare_latency` given the test's `p_value`: `{p_value, ratio_p50,
/// ratio_p99}` (1 where a side has no latency), blue's `{p50, p99}`.
pub fn latency(p_value: f64, green: &Summary, blue: &Summary) -> Reading {
    let ratio = |g: Option<f64>, b: Option<f64>| match (g, b) {
        (Some(g), Some(b)) if b > 0.0 => g / b,
        _ => 1.0,
    };
    Reading {
        value: Ok(json!({
            "p_value": p_value,
            "ratio_p50": ratio(green.p50, blue.p50),
            "ratio_p99": ratio(green.p99, blue.p99),
        })),
        baseline: Some(json!({"p50": blue.p50, "p99": blue.p99})),
        requests: Some(green.requests.min(blue.requests)),
    }
}
