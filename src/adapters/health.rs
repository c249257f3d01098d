//! Waiting for an instance to answer its health check (2xx) before its
//! deadline, giving up early when its process has ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{Backend, NativeHealth};
use crate::events::Slot;
use crate::events::payloads::{GreenHealthy, GreenUnhealthy};

/// Healthy, or why not: the last answer or error, and the backend's
/// diagnosis. The payloads the flow records.
pub type HealthReport = Result<GreenHealthy, GreenUnhealthy>;

pub struct HealthCheck {
    pub app: String,
    pub slot: Slot,
    pub endpoint: String,
    pub path: String,
    pub interval: Duration,
    pub deadline: Duration,
}

pub async fn wait_healthy(check: &HealthCheck, backend: Arc<dyn Backend>) -> HealthReport {
    let client = crate::adapters::http::client_builder()
        .timeout(check.interval.max(Duration::from_secs(2)))
        .no_proxy()
        .build();
    let started = Instant::now();
    let url = format!("http://{}{}", check.endpoint, check.path);
    let mut checks = 0;
    loop {
        checks += 1;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let healthy = || {
            Ok(GreenHealthy {
                slot: check.slot,
                endpoint: check.endpoint.clone(),
                checks,
                elapsed_ms,
            })
        };
        let unhealthy = |diagnosis: String| {
            Err(GreenUnhealthy {
                slot: check.slot,
                checks,
                elapsed_ms,
                diagnosis,
            })
        };
        // An instance with its own health check (a Docker HEALTHCHECK) is
        // judged by it; the others by the HTTP health path.
        let last = match backend.native_health(&check.app, check.slot).await {
            NativeHealth::Healthy => return healthy(),
            NativeHealth::Unhealthy(why) => {
                let details = backend.diagnose(&check.app, check.slot).await;
                return unhealthy(format!("{why}\n{details}"));
            }
            NativeHealth::Starting => "its HEALTHCHECK has not passed yet".to_string(),
            NativeHealth::None => http_check(&client, &url, &check.path).await,
        };
        if last.is_empty() {
            return healthy();
        }
        let ended = backend.running(&check.app, check.slot).await.is_none();
        if ended || started.elapsed() >= check.deadline {
            let why = if ended {
                "the instance is not running".to_string()
            } else {
                format!("no 2xx within {} s", check.deadline.as_secs())
            };
            let details = backend.diagnose(&check.app, check.slot).await;
            // The app's words lead (the backend's first line); the probe's
            // view follows.
            let (head, rest) = details.split_once('\n').unwrap_or((&details, ""));
            return unhealthy(if ended {
                format!("{head}\n{why}; {last}\n{rest}")
            } else {
                format!("{why}; {last}; {head}\n{rest}")
            });
        }
        tokio::time::sleep(check.interval).await;
    }
}

/// One GET of the health path: empty when it answered 2xx, else what went wrong.
async fn http_check(
    client: &Result<reqwest::Client, reqwest::Error>,
    url: &str,
    path: &str,
) -> String {
    let client = match client {
        Ok(client) => client,
        Err(e) => return format!("no HTTP client: {e}"),
    };
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => String::new(),
        Ok(response) => format!("GET {path} answered {}", response.status()),
        Err(e) => format!("GET {path} failed: {}", error_chain(&e)),
    }
}

/// reqwest's top error says little ("error sending request"); the causes
/// say what happened (connection refused, timed out).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
