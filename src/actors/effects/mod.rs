//! Performing one effect through the adapters and answering the Driver.
//! Each runs in a task of its own, so no actor's mailbox waits on a
//! process, a health check, a test run or a reviewer. `worker_of` is the
//! one table of who does what; `perform` the one dispatch, exhaustive, so
//! a new effect is given both or nothing compiles.

mod analysis;
mod bundle;
mod canary;
mod instances;
mod panel;
mod seats;
mod test_runs;

pub use instances::context_of_release;

use super::completion;
use super::messages::Job;
use super::messages::WorkerKind;
use crate::events::{Role, Tier};
use crate::flow::{Effect, Input};

/// Which worker does `effect`.
pub fn worker_of(effect: &Effect) -> WorkerKind {
    match effect {
        Effect::StartInstance { .. }
        | Effect::WaitHealthy { .. }
        | Effect::StopInstance { .. }
        | Effect::SwitchTraffic { .. }
        | Effect::SetWeight { .. }
        | Effect::Pause { .. }
        | Effect::WatchGreen
        | Effect::WithdrawCanary { .. }
        | Effect::Drain { .. }
        | Effect::Measure { .. }
        | Effect::KeepBlue { .. } => WorkerKind::Environment,
        Effect::ApplyFix { tier, .. } => match tier {
            Tier::Driver => WorkerKind::Environment,
            Tier::Senior => WorkerKind::Senior,
            Tier::Trio => WorkerKind::Trio,
        },
        Effect::Review { role, .. } => match role {
            Role::Junior => WorkerKind::Junior,
            Role::Trio | Role::Senior | Role::Manual => WorkerKind::Trio,
        },
        Effect::Synthesize { .. } => WorkerKind::Senior,
        // The Driver's own work, done in a task it spawns.
        Effect::ValidateInputs
        | Effect::RunTests { .. }
        | Effect::WriteReport
        | Effect::CommitReport { .. }
        | Effect::FindIssues
        | Effect::CloseIssue { .. } => WorkerKind::Driver,
    }
}

/// Does `job`'s effect and answers its Driver.
pub async fn perform(job: Job) {
    let ctx = &job.context;
    let state = &job.state;
    let inputs = match &job.effect {
        Effect::ValidateInputs => instances::validate_inputs(ctx).await,
        Effect::RunTests {
            command,
            target_url,
        } => vec![test_runs::run(ctx, state, command, target_url).await],
        Effect::WriteReport => match completion::write_report(ctx).await {
            Ok(written) => vec![written],
            Err(e) => failed(format!("writing the deployment report: {e}")),
        },
        Effect::CommitReport { path } => vec![completion::commit_report(ctx, state, path).await],
        Effect::FindIssues => match completion::find_issues(ctx, state).await {
            Ok(found) => vec![found],
            Err(e) => failed(format!("finding the issues the release closes: {e}")),
        },
        Effect::CloseIssue { issue } => {
            vec![completion::close_issue(ctx, state, *issue, job.resumed).await]
        }
        Effect::StartInstance {
            slot,
            release,
            attempt,
            fresh_port,
        } => vec![instances::start_instance(&job, *slot, release, *attempt, *fresh_port).await],
        Effect::WaitHealthy { slot, endpoint } => {
            vec![instances::wait_until_healthy(&job, *slot, endpoint).await]
        }
        Effect::StopInstance { slot, retain, .. } => {
            instances::stop_instance(ctx, *slot, *retain).await
        }
        Effect::SwitchTraffic { endpoint, to } => {
            instances::switch_traffic(&job, endpoint, *to).await
        }
        Effect::SetWeight {
            percent,
            green,
            blue,
        } => canary::set_weight(ctx, *percent, green, blue).await,
        Effect::Pause { index, pause_ms } => canary::pause(&job, *index, *pause_ms).await,
        Effect::WatchGreen => canary::watch_green(&job).await,
        Effect::WithdrawCanary { blue, green } => canary::withdraw(ctx, blue, green).await,
        Effect::Drain { slot } => vec![instances::drain(ctx, state, *slot).await],
        Effect::Measure {
            name,
            index,
            wait_ms,
            ..
        } => vec![analysis::measure(ctx, state, name, *index, *wait_ms).await],
        Effect::KeepBlue { keep_ms } => vec![analysis::keep_blue(ctx, *keep_ms).await],
        Effect::ApplyFix {
            tier: Tier::Driver,
            attempt,
            remedy,
            diagnosis,
        } => vec![instances::driver_remedy(ctx, state, *attempt, diagnosis, remedy).await],
        Effect::ApplyFix {
            tier,
            attempt,
            diagnosis,
            ..
        } => vec![seats::fix(ctx, *tier, *attempt, diagnosis).await],
        Effect::Review { role, members, .. } => panel::review(ctx, state, *role, members).await,
        Effect::Synthesize { member, .. } => vec![panel::synthesize(ctx, state, member).await],
    };
    job.answer(inputs);
}

fn failed(reason: impl Into<String>) -> Vec<Input> {
    vec![Input::EffectFailed {
        reason: reason.into(),
    }]
}
