//! The analysis loop's measurements: every metric of a template read once
//! over one window (the router's counters taken at its start), each reading
//! judged by the flow's `measurement::verdict`, all answered together.

use std::time::Duration;

use super::super::context::Context;
use crate::adapters::analysis::{self, LoadSpec, Target, Window, drive, window_start};
use crate::config::ProviderKind;
use crate::events::Event;
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
        let blue = state.blue.as_ref().map(|b| b.endpoint.as_str());
        Some(window_start(ctx.router(), &endpoint, blue).await)
    } else {
        None
    };
    // The window: loaded when the config says so, green and blue at once.
    let window_length = Duration::from_millis(wait_ms);
    let load = match &ctx.config.rollout.load {
        Some(load) => {
            let spec = LoadSpec {
                rps: load.rps.count(),
                method: load.method.as_reqwest(),
                path: load.path.clone(),
                duration: load.duration_s.map(|d| Duration::from_secs(d.0)),
            };
            let blue = state.blue.as_ref().map(|b| b.endpoint.as_str());
            let started = std::time::Instant::now();
            let sample = drive(&spec, &endpoint, blue, window_length).await;
            // The window lasts its length even when the load was shorter.
            tokio::time::sleep(window_length.saturating_sub(started.elapsed())).await;
            Some(sample)
        }
        None => {
            tokio::time::sleep(window_length).await;
            None
        }
    };
    let mut measurements = Vec::with_capacity(metrics.len());
    for metric in metrics {
        let metric = metric.get_ref();
        let reading = analysis::read(metric, &target, window.as_ref(), load.as_ref()).await;
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

/// Waits until blue has been kept `keep_ms` since the switch, counted from
/// the switch's event in the log, so a restarted control plane waits only
/// what is left.
pub async fn keep_blue(ctx: &Context, keep_ms: u64) -> Input {
    let switched_at = ctx
        .services
        .store
        .read_stream(ctx.id, 0)
        .ok()
        .and_then(|events| {
            events
                .iter()
                .find(|e| matches!(e.event, Event::TrafficSwitched { .. }))
                .map(|e| e.recorded_at)
        });
    let since_switch = switched_at
        .map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as u64)
        .unwrap_or(0);
    let left = keep_ms.saturating_sub(since_switch);
    tokio::time::sleep(Duration::from_millis(left)).await;
    Input::BlueKept {
        waited_ms: since_switch.max(keep_ms),
    }
}
