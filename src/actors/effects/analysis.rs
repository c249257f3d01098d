//! The analysis loop's measurements: every metric of a template read once
//! over one window (the router's counters taken at its start), each reading
//! judged by the flow's `measurement::verdict`, all answered together.

use std::time::Duration;

use super::super::context::Context;
use crate::adapters::analysis::{self, Target, Window, window_start};
use crate::config::ProviderKind;
use crate::events::payloads::AnalysisMeasured;
use crate::flow::measurement::verdict;
use crate::flow::{Deployment, Input};

pub async fn measure(
    ctx: &Context,
    state: &Deployment,
    name: &str,
    index: u32,
    wait_ms: u64,
) -> Input {
    let Some(template) = ctx.config.analysis.get(name) else {
        // The policy and the config come from the same text: unreachable
        // unless the log was edited, and then the flow fails, saying so.
        return Input::EffectFailed {
            reason: format!("no [analysis.{name}] in the deployment's config"),
        };
    };
    let metrics = &template.get_ref().metrics;
    let endpoint = state.green_endpoint.clone().unwrap_or_default();
    let target = Target {
        app: ctx.app.clone(),
        release: ctx.release.clone(),
        slot: state.green_slot.name().to_string(),
        endpoint: endpoint.clone(),
        code_dir: ctx.paths.code.clone(),
    };
    let window: Option<Window> = if metrics
        .iter()
        .any(|m| m.get_ref().provider == ProviderKind::Router)
    {
        Some(window_start(ctx.router(), &endpoint).await)
    } else {
        None
    };
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    let mut measurements = Vec::with_capacity(metrics.len());
    for metric in metrics {
        let metric = metric.get_ref();
        let reading = analysis::read(metric, &target, window.as_ref()).await;
        let (verdict, detail) = verdict(metric, &reading);
        measurements.push(AnalysisMeasured {
            name: name.to_string(),
            metric: metric.name.clone(),
            index,
            value: reading.value.clone().unwrap_or(serde_json::Value::Null),
            baseline: reading.baseline.clone(),
            verdict,
            detail,
        });
    }
    Input::Measured(measurements)
}
