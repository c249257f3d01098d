//! Canary configs shared by the process and docker backends' tests.

use serde_json::Value;

use super::http::request;
use super::scenario::{Knobs, Scenario};

/// A canary of `steps` (TOML), with `templates` and extra `[rollout]` lines.
pub fn canary(steps: &str, templates: &str, rollout: &str, env: &str) -> Knobs {
    Knobs {
        env: env.to_string(),
        review: format!(
            "{templates}\n[rollout]\nstrategy = \"canary\"\nsteps = [ {steps} ]\n{rollout}\n"
        ),
        ..Knobs::default()
    }
}

/// Green's errors and latency against blue's, on the real traffic the
/// router carries to each in the same window.
pub const SAME_WINDOW: &str = r#"
[analysis.errors]
interval_s = 2
count = 2
[[analysis.errors.metrics]]
name = "errors"
provider = "router"
measure = "compare_errors"
min_requests = 10

[analysis.latency]
interval_s = 2
count = 2
[[analysis.latency.metrics]]
name = "latency"
provider = "router"
measure = "compare_latency"
min_requests = 10
"#;

/// Green's weights as the log recorded them.
pub fn weights(s: &Scenario, id: &str) -> Vec<u64> {
    s.payloads(id, "weight_set")
        .iter()
        .filter_map(|p| p["percent"].as_u64())
        .collect()
}

/// The route the router holds for the app, asked of its admin API.
pub fn route(s: &Scenario) -> Value {
    let (status, _, body) = request(s.admin, "GET", &format!("/routes/{}", s.app), &[], "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("a route")
}
