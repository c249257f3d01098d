//! Analysis configs shared by the process and docker backends' tests.

use super::scenario::Knobs;

/// A release whose config watches it after the switch with `templates`
/// and keeps blue for `keep_s`.
pub fn watched(templates: &str, post_promotion: &str, keep_s: u32, env: &str) -> Knobs {
    Knobs {
        env: env.to_string(),
        review: format!(
            "{templates}\n[rollout]\npost_promotion = [{post_promotion}]\nscale_down_delay_s = {keep_s}\n"
        ),
        ..Knobs::default()
    }
}

/// Real traffic through the router, 95 % of it answered, 3 windows.
pub const LIVE_SUCCESS: &str = r#"
[analysis.live]
interval_s = 1
count = 3
[[analysis.live.metrics]]
name = "success"
provider = "router"
measure = "success_rate"
success = "result >= 0.95"
min_requests = 10
"#;

/// Green compared with blue under the built-in load at `rps`, before the
/// switch: latency and errors in the same window.
pub fn compared(rps: u32) -> String {
    format!(
        r#"
[analysis.speed]
interval_s = 2
[[analysis.speed.metrics]]
name = "latency"
provider = "load"
measure = "compare_latency"
min_requests = 20

[[analysis.speed.metrics]]
name = "errors"
provider = "load"
measure = "compare_errors"
min_requests = 20

[rollout]
pre_promotion = ["speed"]
load = {{ rps = {rps}, path = "/" }}
"#
    )
}
