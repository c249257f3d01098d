//! Reading a metric once, from where its template says: the router's own
//! counters (`router`), a Prometheus server (`prometheus`), a JSON endpoint
//! (`web`) or a command (`exec`). Each gives a `Reading`; the flow's
//! `measurement::verdict` judges it. Nothing here decides.

mod comparison;
mod exec;
mod load;
mod prometheus;
mod router;
mod web;

use std::time::Duration;

use crate::config::{Metric, ProviderKind};
use crate::flow::measurement::Reading;

pub use load::{LoadSpec, Side, drive};
pub use router::{Window, window_start};

/// What the built-in load saw over the window: green's side, and blue's.
pub type LoadSample = (Side, Option<Side>);

/// What a measurement is of: the candidate's names and address, which
/// `{{app}}`, `{{release}}`, `{{slot}}` and `{{endpoint}}` name in a query,
/// a URL or a command.
#[derive(Debug, Clone)]
pub struct Target {
    pub app: String,
    pub release: String,
    pub slot: String,
    pub endpoint: String,
    /// Where `exec` commands run: the release's code.
    pub code_dir: std::path::PathBuf,
}

impl Target {
    pub fn substitute(&self, text: &str) -> String {
        text.replace("{{app}}", &self.app)
            .replace("{{release}}", &self.release)
            .replace("{{slot}}", &self.slot)
            .replace("{{endpoint}}", &self.endpoint)
    }
}

/// Answers past this size are refused: a metric is a number or a few.
const MAX_ANSWER: usize = 1 << 20;

/// One reading of `metric`; `window` is the router's counters at the start
/// of the interval (router metrics only), `load` what the built-in load saw
/// in it (load metrics only).
pub async fn read(
    metric: &Metric,
    target: &Target,
    window: Option<&Window>,
    load: Option<&LoadSample>,
) -> Reading {
    let timeout = Duration::from_secs(metric.timeout_s.0);
    let value = match metric.provider {
        ProviderKind::Router => return router::read(metric, window).await,
        ProviderKind::Load => {
            let measure = metric.measure.unwrap_or(crate::config::Measure::Requests);
            return match load {
                Some((green, blue)) => load::measured(measure, green, blue.as_ref()),
                None => Reading {
                    value: Err("no load ran in the window (rollout.load)".into()),
                    baseline: None,
                    requests: None,
                },
            };
        }
        ProviderKind::Prometheus => prometheus::read(metric, target, timeout).await,
        ProviderKind::Web => web::read(metric, target, timeout).await,
        ProviderKind::Exec => exec::read(metric, target, timeout).await,
    };
    Reading {
        value,
        baseline: None,
        requests: None,
    }
}

/// The providers' one client: building one loads the TLS roots, which
/// cost more than a measurement's whole read (`benches/analysis.rs`), so
/// it is built once and each request carries its own timeout.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::adapters::http::client_builder()
                .build()
                .map_err(|e| format!("no HTTP client: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A GET of `url` that gives up after `timeout`.
fn get(url: impl reqwest::IntoUrl, timeout: Duration) -> Result<reqwest::RequestBuilder, String> {
    Ok(client()?.get(url).timeout(timeout))
}

/// A number as a JSON value, refusing what JSON cannot hold.
fn number(value: f64) -> Result<serde_json::Value, String> {
    serde_json::Number::from_f64(value)
        .map(serde_json::Value::Number)
        .ok_or_else(|| format!("{value} is not a finite number"))
}
