//! A canary's steps in the world: the router's split set to a weight, a
//! pause held (watching that green still runs), and the split withdrawn
//! so every request goes back to blue, green's last ones answered first.

use std::time::Duration;

use super::super::context::Context;
use super::super::messages::Job;
use super::failed;
use crate::events::Event;
use crate::events::payloads::GreenUnhealthy;
use crate::flow::Input;

/// Green takes `percent` of the traffic, blue the rest. Setting the same
/// split again changes nothing, so a step resumed after a crash just sets it.
pub async fn set_weight(ctx: &Context, percent: u8, green: &str, blue: &str) -> Vec<Input> {
    let router = ctx.router();
    let set = async {
        router.ensure_running().await?;
        router
            .set_split(
                &ctx.app,
                ctx.config.router.listen.0,
                blue,
                green,
                percent,
                &ctx.config.rollout.split,
            )
            .await
    };
    match set.await {
        Ok(()) => vec![Input::WeightSet { percent }],
        Err(e) => failed(format!("setting green's weight to {percent} %: {e}")),
    }
}

/// How long leaving the canary keeps asking a router that does not
/// answer: green is not stopped while it may still be sent requests.
const WITHDRAW_FOR: Duration = Duration::from_secs(60);

/// Every request back on blue: the route becomes blue's alone, and what
/// green was still answering is waited out, so stopping it next cuts no
/// request short. A router that does not answer is asked again, with
/// back-off, for `WITHDRAW_FOR`.
pub async fn withdraw(ctx: &Context, blue: &str, green: &str) -> Vec<Input> {
    let router = ctx.router();
    let deadline = tokio::time::Instant::now() + WITHDRAW_FOR;
    let mut back_off = Duration::from_millis(250);
    loop {
        let withdrawn = async {
            router.ensure_running().await?;
            router
                .set_route(&ctx.app, ctx.config.router.listen.0, blue)
                .await
        };
        match withdrawn.await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() + back_off < deadline => {
                tracing::warn!(app = %ctx.app, "sending every request back to blue: {e}; trying again in {back_off:?}");
                tokio::time::sleep(back_off).await;
                back_off = (back_off * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return failed(format!(
                    "sending every request back to blue: {e}; green still runs and takes its share of the traffic"
                ));
            }
        }
    }
    let drained = super::instances::wait_drained(ctx, green).await;
    tracing::info!(app = %ctx.app, in_flight = drained.in_flight, waited_ms = drained.waited_ms, "green left the canary");
    vec![Input::WeightSet { percent: 0 }]
}

/// How often a pause looks at green.
const WATCH: Duration = Duration::from_secs(1);

/// Holds step `index` until `pause_ms` after it started (its
/// `step_started` in the log, so a restarted control plane waits only what
/// is left). Green ending meanwhile ends the pause: the flow leaves the
/// canary.
pub async fn pause(job: &Job, index: u32, pause_ms: u64) -> Vec<Input> {
    let ctx = &job.context;
    let started_at = ctx
        .services
        .store
        .read_stream(ctx.id, 0)
        .ok()
        .and_then(|events| {
            events
                .iter()
                .rev()
                .find(|e| matches!(e.event, Event::StepStarted { index: i, .. } if i == index))
                .map(|e| e.recorded_at)
        });
    // No start to count from (a log edited by hand): count from now.
    let already = started_at.map_or(0, |at| {
        (chrono::Utc::now() - at).num_milliseconds().max(0) as u64
    });
    let origin = std::time::Instant::now()
        .checked_sub(Duration::from_millis(already))
        .unwrap_or_else(std::time::Instant::now);
    watch(job, origin, Some(pause_ms)).await
}

/// Watches green while a person decides at the canary's gate: it answers
/// only if green ends; their command ends the watch.
pub async fn watch_green(job: &Job) -> Vec<Input> {
    watch(job, std::time::Instant::now(), None).await
}

/// Looks at green every `WATCH` from `origin` until `until_ms` have
/// passed (then `paused`), or for as long as it takes when there is no end.
async fn watch(job: &Job, origin: std::time::Instant, until_ms: Option<u64>) -> Vec<Input> {
    let ctx = &job.context;
    let slot = job.state.green_slot;
    let backend = ctx.backend();
    loop {
        let waited = origin.elapsed().as_millis() as u64;
        if until_ms.is_some_and(|until| waited >= until) {
            return vec![Input::Paused { waited_ms: waited }];
        }
        if backend.running(&ctx.app, slot).await.is_none() {
            let details = backend.diagnose(&ctx.app, slot).await;
            return vec![Input::Unhealthy(GreenUnhealthy {
                slot,
                checks: 0,
                elapsed_ms: waited,
                diagnosis: format!("green is not running; {details}"),
            })];
        }
        let left = until_ms.map_or(WATCH, |until| Duration::from_millis(until - waited));
        tokio::time::sleep(left.min(WATCH)).await;
    }
}
