//! `[analysis.NAME]` templates and `[rollout]` (DESIGN.md, "Analysis and
//! rollout"): what is measured after green is reviewed, how often, and the
//! limits that turn measurements into a verdict.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::condition::Condition;
use super::schema::Bounded;

/// A template: its metrics are measured together, `count` times, one
/// window of `interval_s` each.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisTemplate {
    #[serde(default = "five")]
    pub interval_s: Bounded<1, 3_600>,
    /// Measurements per metric; 0 runs until the phase ends.
    #[serde(default = "one")]
    pub count: Bounded<0, 10_000>,
    #[serde(default = "zero")]
    pub initial_delay_s: Bounded<0, 3_600>,
    /// Failed measurements a metric may have before the run fails.
    #[serde(default = "zero_limit")]
    pub failure_limit: Bounded<0, 10_000>,
    /// Errors in a row a metric may have before the run fails.
    #[serde(default = "four")]
    pub consecutive_error_limit: Bounded<0, 10_000>,
    /// Inconclusive measurements a metric may have before the run is
    /// inconclusive (and waits for a person).
    #[serde(default = "zero_limit")]
    pub inconclusive_limit: Bounded<0, 10_000>,
    /// Measured and recorded, never failing the deployment.
    #[serde(default)]
    pub dry_run: bool,
    pub metrics: Vec<Spanned<Metric>>,
}

fn five() -> Bounded<1, 3_600> {
    Bounded(5)
}
fn one() -> Bounded<0, 10_000> {
    Bounded(1)
}
fn zero() -> Bounded<0, 3_600> {
    Bounded(0)
}
fn zero_limit() -> Bounded<0, 10_000> {
    Bounded(0)
}
fn four() -> Bounded<0, 10_000> {
    Bounded(4)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Real traffic through the router, from its per-upstream counters.
    Router,
    /// The built-in synthetic load, sent to blue and green at once.
    Load,
    Prometheus,
    Web,
    Exec,
}

/// What the router and load providers measure over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Measure {
    SuccessRate,
    ErrorRate,
    LatencyP50,
    LatencyP90,
    LatencyP99,
    Requests,
    CompareErrors,
    CompareLatency,
}

impl Measure {
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Green against blue in the same window.
    pub fn compares(self) -> bool {
        matches!(self, Measure::CompareErrors | Measure::CompareLatency)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: String,
    pub provider: ProviderKind,
    #[serde(default)]
    pub measure: Option<Measure>,
    /// CEL over `result` (and `baseline`): true is a successful measurement.
    #[serde(default)]
    pub success: Option<Spanned<String>>,
    /// CEL: true is a failed measurement (checked before `success`).
    #[serde(default)]
    pub failure: Option<Spanned<String>>,
    /// Below this many requests in the window (on either side of a
    /// comparison) a measurement is inconclusive, never a pass.
    #[serde(default = "twenty")]
    pub min_requests: Bounded<0, 1_000_000_000>,
    /// prometheus: the server's base URL, and the instant query.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    /// web: the URL to GET, and the JSON path that picks the result.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub json_path: Option<String>,
    /// exec: a command run in the code directory; its stdout is the result.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default = "ten")]
    pub timeout_s: Bounded<1, 600>,
}

fn twenty() -> Bounded<0, 1_000_000_000> {
    Bounded(20)
}
fn ten() -> Bounded<1, 600> {
    Bounded(10)
}

impl Metric {
    /// The condition given for `key` (`success`, `failure`); an empty
    /// string is none (DESIGN.md's `failure = ""`).
    pub fn condition(&self, key: Conditions) -> Option<Condition> {
        let text = match key {
            Conditions::Success => self.success.as_ref(),
            Conditions::Failure => self.failure.as_ref(),
        }?;
        let text = text.get_ref();
        if text.trim().is_empty() {
            return None;
        }
        Condition::parse(text).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditions {
    Success,
    Failure,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Green beside blue, all traffic switched at once.
    #[default]
    Bluegreen,
    /// Traffic moved to green in `rollout.steps`, judged on the way.
    Canary,
}

impl Strategy {
    /// As written in the config and in `history --json`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bluegreen => "bluegreen",
            Strategy::Canary => "canary",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    #[serde(default)]
    pub strategy: Strategy,
    /// Templates run on green, one after another, after the review and
    /// before the switch.
    #[serde(default)]
    pub pre_promotion: Vec<Spanned<String>>,
    /// Templates run after the switch, one after another, while blue is
    /// kept running (not serving): a failure switches traffic back at once.
    #[serde(default)]
    pub post_promotion: Vec<Spanned<String>>,
    /// How long blue is kept running after the switch, at least; a manual
    /// rollback in that time is an instant switch back. Defaults to 30 with
    /// post-promotion analyses and to 0 (blue stops once drained) without.
    #[serde(default)]
    pub scale_down_delay_s: Option<Bounded<0, 86_400>>,
    /// Synthetic load sent to green and blue at once during every analysis
    /// window (what `provider = "load"` measures).
    #[serde(default)]
    pub load: Option<Load>,
    /// A firing alert (`POST /api/apps/{app}/alerts`) for a release
    /// switched to less than `alert_window_s` ago rolls it back.
    #[serde(default)]
    pub rollback_on_alert: bool,
    #[serde(default = "an_hour")]
    pub alert_window_s: Bounded<1, 2_592_000>,
    /// A canary's steps, in order (`strategy = "canary"` only).
    #[serde(default)]
    pub steps: Vec<Spanned<crate::events::RolloutStep>>,
    /// A template run beside the whole canary, from a step on.
    #[serde(default)]
    pub background_analysis: Option<super::canary::Background>,
    /// How the router shares a canary's traffic.
    #[serde(default)]
    pub split: super::canary::Split,
}

fn an_hour() -> Bounded<1, 2_592_000> {
    Bounded(3_600)
}

/// `rollout.load`: the built-in synthetic load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Requests per second to each side.
    #[serde(default = "twenty_rps")]
    pub rps: Bounded<1, 1_000>,
    #[serde(default = "root_path")]
    pub path: String,
    #[serde(default)]
    pub method: LoadMethod,
    /// At most this long in each window (default: the whole window).
    #[serde(default)]
    pub duration_s: Option<Bounded<1, 3_600>>,
}

fn twenty_rps() -> Bounded<1, 1_000> {
    Bounded(20)
}
fn root_path() -> String {
    "/".into()
}

/// The methods a load may use: the ones that carry no body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LoadMethod {
    #[default]
    Get,
    Head,
    Options,
}

impl LoadMethod {
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            LoadMethod::Get => reqwest::Method::GET,
            LoadMethod::Head => reqwest::Method::HEAD,
            LoadMethod::Options => reqwest::Method::OPTIONS,
        }
    }
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            strategy: Strategy::default(),
            pre_promotion: Vec::new(),
            post_promotion: Vec::new(),
            scale_down_delay_s: None,
            load: None,
            rollback_on_alert: false,
            alert_window_s: an_hour(),
            steps: Vec::new(),
            background_analysis: None,
            split: Default::default(),
        }
    }
}

impl Rollout {
    /// The scale-down delay in effect, in seconds.
    pub fn scale_down_delay_s(&self) -> u64 {
        match self.scale_down_delay_s {
            Some(delay) => delay.0,
            None if !self.post_promotion.is_empty() => 30,
            None => 0,
        }
    }
}

/// Checks of `[analysis]` and `[rollout]` that need more than one value:
/// names, the keys each provider needs, the conditions' syntax. Errors are
/// (key, span, message), as `Config::check` gives them.
pub fn check(
    analysis: &BTreeMap<String, Spanned<AnalysisTemplate>>,
    rollout: &Rollout,
) -> Result<(), (String, Option<std::ops::Range<usize>>, String)> {
    for (name, template) in analysis {
        let at = Some(template.span());
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err((
                format!("analysis.{name}"),
                at,
                "an analysis name is [a-z0-9_-]+".into(),
            ));
        }
        let template = template.get_ref();
        if template.metrics.is_empty() {
            return Err((
                format!("analysis.{name}.metrics"),
                at,
                "a template needs at least one [[analysis.NAME.metrics]]".into(),
            ));
        }
        let mut seen = Vec::new();
        for (i, metric) in template.metrics.iter().enumerate() {
            let key = format!("analysis.{name}.metrics[{i}]");
            let span = Some(metric.span());
            let metric = metric.get_ref();
            if seen.contains(&metric.name.as_str()) {
                return Err((
                    format!("{key}.name"),
                    span,
                    format!("two metrics are named `{}`", metric.name),
                ));
            }
            seen.push(&metric.name);
            metric_problem(metric)
                .map_err(|(field, message)| (format!("{key}.{field}"), span.clone(), message))?;
            for (field, condition) in [("success", &metric.success), ("failure", &metric.failure)] {
                let Some(source) = condition else { continue };
                if source.get_ref().trim().is_empty() {
                    continue;
                }
                if let Err(e) = Condition::parse(source.get_ref()) {
                    // The expression's own line and column, from where its
                    // string starts (after the quote, on one line).
                    let start = source.span().start + 1 + e.column.saturating_sub(1);
                    return Err((
                        format!("{key}.{field}"),
                        Some(start..start + 1),
                        format!("not a CEL expression: {}", e.message),
                    ));
                }
            }
        }
    }
    let uses_load = analysis.values().any(|t| {
        t.get_ref()
            .metrics
            .iter()
            .any(|m| m.get_ref().provider == ProviderKind::Load)
    });
    if uses_load && rollout.load.is_none() {
        return Err((
            "rollout.load".into(),
            None,
            "a `load` metric measures the built-in synthetic load: give rollout.load = { rps = 20, path = \"/\" }".into(),
        ));
    }
    if let Some(load) = &rollout.load
        && !load.path.starts_with('/')
    {
        return Err((
            "rollout.load.path".into(),
            None,
            format!("`{}` is not a path: it starts with `/`", load.path),
        ));
    }
    for (i, name) in rollout.post_promotion.iter().enumerate() {
        if !analysis.contains_key(name.get_ref()) {
            return Err((
                format!("rollout.post_promotion[{i}]"),
                Some(name.span()),
                format!("no [analysis.{}] template", name.get_ref()),
            ));
        }
    }
    for (i, name) in rollout.pre_promotion.iter().enumerate() {
        let key = format!("rollout.pre_promotion[{i}]");
        let Some(template) = analysis.get(name.get_ref()) else {
            return Err((
                key,
                Some(name.span()),
                format!("no [analysis.{}] template", name.get_ref()),
            ));
        };
        if template.get_ref().count.0 == 0 {
            return Err((
                key,
                Some(name.span()),
                format!(
                    "analysis `{}` has count = 0 (until the phase ends), and a pre-promotion analysis has no end: give it a count",
                    name.get_ref()
                ),
            ));
        }
    }
    super::canary::check(
        analysis,
        rollout.strategy == Strategy::Canary,
        &rollout.steps,
        rollout.background_analysis.as_ref(),
        &rollout.split,
    )
}

/// The key a provider needs and lacks, or one it cannot use.
fn metric_problem(metric: &Metric) -> Result<(), (&'static str, String)> {
    let needs = |field: &'static str, value: &Option<String>| match value {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err((
            field,
            format!("a `{:?}` metric needs `{field}`", metric.provider).to_lowercase(),
        )),
    };
    match metric.provider {
        ProviderKind::Router | ProviderKind::Load => match metric.measure {
            None => Err((
                "measure",
                format!("a `{:?}` metric needs `measure`", metric.provider).to_lowercase(),
            )),
            Some(_) => Ok(()),
        },
        ProviderKind::Prometheus => {
            needs("address", &metric.address)?;
            needs("query", &metric.query)
        }
        ProviderKind::Web => {
            needs("url", &metric.url)?;
            needs("json_path", &metric.json_path)?;
            let path = metric.json_path.as_deref().unwrap_or_default();
            serde_json_path::JsonPath::parse(path)
                .map(|_| ())
                .map_err(|e| ("json_path", format!("`{path}` is not a JSONPath: {e}")))
        }
        ProviderKind::Exec => needs("command", &metric.command),
    }?;
    if metric.measure.is_some()
        && !matches!(metric.provider, ProviderKind::Router | ProviderKind::Load)
    {
        return Err((
            "measure",
            "`measure` is the router's and the load's; this provider's result is what it answers"
                .into(),
        ));
    }
    Ok(())
}

/// `[[notify]]`: a webhook told about some of a deployment's events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// `http://` or `https://`.
    pub url: String,
    #[serde(default = "default_notifications")]
    pub events: Vec<NotifyKind>,
}

/// What a webhook can be told about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NotifyKind {
    Promoted,
    RolledBack,
    Returned,
    Rejected,
    Failed,
    Aborted,
    AnalysisFailed,
    AnalysisInconclusive,
    ManualGate,
    Alert,
}

impl NotifyKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

fn default_notifications() -> Vec<NotifyKind> {
    vec![
        NotifyKind::Promoted,
        NotifyKind::RolledBack,
        NotifyKind::AnalysisFailed,
        NotifyKind::ManualGate,
    ]
}

/// A webhook's URL that is not one.
pub fn notify_problem(notify: &Notify) -> Option<String> {
    match reqwest::Url::parse(&notify.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => None,
        Ok(_) => Some(format!("`{}` is not an http or https URL", notify.url)),
        Err(e) => Some(format!("`{}` is not a URL: {e}", notify.url)),
    }
}
