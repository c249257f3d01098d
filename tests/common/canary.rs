//! Canary configs shared by the process and docker backends' tests.

use super::scenario::Knobs;

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
