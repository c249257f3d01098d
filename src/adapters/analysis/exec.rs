//! `exec`: a command run in the release's code directory (as the tests
//! are, without deployflow's own secrets); its stdout, a number or JSON, is
//! the result, and a non-zero exit is an error measurement.

use std::time::Duration;

use super::Target;
use crate::adapters::shell;
use crate::config::Metric;

pub async fn read(
    metric: &Metric,
    target: &Target,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let command = target.substitute(metric.command.as_deref().unwrap_or_default());
    let env = [
        ("DEPLOYFLOW_APP", target.app.as_str()),
        ("DEPLOYFLOW_RELEASE", target.release.as_str()),
        ("DEPLOYFLOW_SLOT", target.slot.as_str()),
        ("DEPLOYFLOW_ENDPOINT", target.endpoint.as_str()),
    ];
    let output = shell::run(&command, &target.code_dir, b"", timeout, &env).await?;
    if output.code != Some(0) {
        let code = output.code.map_or_else(
            || "no exit code (killed)".to_string(),
            |c| format!("exit code {c}"),
        );
        return Err(format!(
            "`{command}` ended with {code}: {}",
            shell::last_lines(&output.stderr, shell::STDERR_LINES).trim()
        ));
    }
    let text = output.stdout.trim();
    serde_json::from_str(text).map_err(|_| {
        format!(
            "`{command}` printed {:?}, not a number or JSON",
            shell::last_lines(text, 3)
        )
    })
}
