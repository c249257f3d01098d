//! What the shell must do next for a deployment: one side effect, waiting
//! for a person, or nothing (it ended). Derived from the state alone, so a
//! restarted Driver picks up exactly where the log says it was.

use serde::Serialize;

use super::fix_loop::{self, Remedy};
use super::state::{Deployment, Ending, Phase, RestoreStage, ReviewStage};
use crate::events::RolloutStep;
use crate::events::{AnalysisPhase, Outcome, Role, Slot, Tier};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Do(Effect),
    /// The manual gate: `approve` or `reject` decides.
    AwaitApproval,
    Finished(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case", tag = "effect")]
#[strum(serialize_all = "snake_case")]
pub enum Effect {
    ValidateInputs,
    /// Start `release` in `slot` for deploy `attempt`, replacing an earlier
    /// attempt's instance. Idempotent per (deployment, slot, attempt).
    StartInstance {
        slot: Slot,
        release: String,
        attempt: u32,
        fresh_port: bool,
    },
    WaitHealthy {
        slot: Slot,
        endpoint: String,
    },
    ApplyFix {
        tier: Tier,
        attempt: u32,
        remedy: Remedy,
        diagnosis: String,
    },
    RunTests {
        command: String,
        target_url: String,
    },
    /// Ask `members` (those of `role` not yet heard this round) for verdicts.
    Review {
        round: u32,
        role: Role,
        members: Vec<String>,
    },
    Synthesize {
        round: u32,
        member: String,
    },
    /// Measure every metric of analysis `name` once, after waiting
    /// `wait_ms` (the window the measurement covers).
    Measure {
        name: String,
        phase: AnalysisPhase,
        index: u32,
        wait_ms: u64,
    },
    SwitchTraffic {
        to: Slot,
        endpoint: String,
    },
    /// A canary's step: the router sends `percent` of the traffic to
    /// `green`, the rest to `blue`, split as `rollout.split` says.
    SetWeight {
        percent: u8,
        green: String,
        blue: String,
    },
    /// A canary's step holds the weight until `pause_ms` after the step
    /// started (counted from its `step_started`, so a restart waits only
    /// what is left), watching green meanwhile.
    Pause {
        index: u32,
        pause_ms: u64,
    },
    /// A person decides at a canary's gate while green takes its share of
    /// the traffic: green is watched until they do, so one that ends is
    /// not left in the split for as long as they take.
    WatchGreen,
    /// The canary is left: every request goes back to `blue`, at once,
    /// and what `green` was still answering is waited out before it stops.
    WithdrawCanary {
        blue: String,
        green: String,
    },
    Drain {
        slot: Slot,
    },
    /// Wait until blue has been kept `keep_ms` since the switch.
    KeepBlue {
        keep_ms: u64,
    },
    /// Stop the instance in `slot`; keep it for rollback when `retain`.
    StopInstance {
        slot: Slot,
        release: String,
        retain: bool,
    },
    /// Write the report of how the deployment ends.
    WriteReport,
    /// Commit the report at `path` (`completion.commit`).
    CommitReport {
        path: String,
    },
    /// Find the issues named by the commits since the previous promotion.
    FindIssues,
    /// Comment on `issue` with the report's link and close it.
    CloseIssue {
        issue: u64,
    },
}

impl Effect {
    /// Its name, as in `--json` output (`start_instance`, `drain`, ...).
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// A health-checked address as a URL the test command can use.
pub fn target_url(endpoint: &str) -> String {
    format!("http://{endpoint}")
}

pub fn next_step(state: &Deployment) -> Step {
    let green = |retain| {
        Step::Do(Effect::StopInstance {
            slot: state.green_slot,
            release: state.release.clone(),
            retain,
        })
    };
    let endpoint = state.green_endpoint.clone().unwrap_or_default();
    match &state.phase {
        Phase::Validating => Step::Do(Effect::ValidateInputs),
        Phase::StartingGreen => Step::Do(Effect::StartInstance {
            slot: state.green_slot,
            release: state.release.clone(),
            attempt: state.deploy_attempt,
            fresh_port: state.fresh_port,
        }),
        Phase::AwaitingHealth => Step::Do(Effect::WaitHealthy {
            slot: state.green_slot,
            endpoint,
        }),
        Phase::Fixing { cause } => {
            let attempt = state.fixes.get(state.tier) + 1;
            Step::Do(Effect::ApplyFix {
                tier: state.tier,
                attempt,
                remedy: super::triage::remedy_for(state, state.tier),
                diagnosis: fix_loop::diagnosis(cause),
            })
        }
        Phase::Testing => Step::Do(Effect::RunTests {
            command: state.policy.tests.clone(),
            target_url: target_url(&endpoint),
        }),
        Phase::Reviewing { stage } => match stage {
            ReviewStage::Trio => Step::Do(Effect::Review {
                round: state.round,
                role: Role::Trio,
                members: unheard(&state.policy.trio, &state.trio_reviews),
            }),
            ReviewStage::Synthesis => Step::Do(Effect::Synthesize {
                round: state.round,
                member: state.policy.senior.clone(),
            }),
            ReviewStage::Juniors => Step::Do(Effect::Review {
                round: state.round,
                role: Role::Junior,
                members: unheard(&state.policy.juniors, &state.junior_reviews),
            }),
        },
        Phase::AwaitingApproval if state.in_canary() => Step::Do(Effect::WatchGreen),
        Phase::AwaitingApproval => Step::AwaitApproval,
        Phase::Analyzing(tally) => {
            let index = tally.next_index();
            let wait_ms = state
                .policy
                .analyses
                .get(&tally.name)
                .map_or(0, |limits| limits.wait_ms(index));
            Step::Do(Effect::Measure {
                name: tally.name.clone(),
                phase: tally.phase,
                index,
                wait_ms,
            })
        }
        Phase::Stepping => match state.canary.as_ref() {
            Some(canary) if !canary.completed => match &canary.step {
                RolloutStep::SetWeight(percent) => Step::Do(Effect::SetWeight {
                    percent: *percent,
                    green: endpoint,
                    blue: blue_endpoint(state),
                }),
                RolloutStep::PauseS(seconds) => Step::Do(Effect::Pause {
                    index: canary.index,
                    pause_ms: seconds.saturating_mul(1000),
                }),
                // `decide` moves on in the same commit as the events that
                // lead here; a pause of nothing lets it, should one not.
                RolloutStep::Analysis(_) | RolloutStep::Pause(_) => Step::Do(Effect::Pause {
                    index: canary.index,
                    pause_ms: 0,
                }),
            },
            _ => Step::Do(Effect::Pause {
                index: state.canary.as_ref().map_or(0, |c| c.index),
                pause_ms: 0,
            }),
        },
        Phase::Switching => Step::Do(Effect::SwitchTraffic {
            to: state.green_slot,
            endpoint,
        }),
        Phase::DrainingBlue => Step::Do(Effect::Drain {
            slot: state.green_slot.other(),
        }),
        Phase::KeepingBlue => Step::Do(Effect::KeepBlue {
            keep_ms: state.policy.keep_blue_ms,
        }),
        Phase::StoppingBlue => Step::Do(Effect::StopInstance {
            slot: state.green_slot.other(),
            release: state
                .blue
                .as_ref()
                .map(|b| b.release.clone())
                .unwrap_or_default(),
            retain: state.policy.retain > 0,
        }),
        Phase::Reporting { .. } => Step::Do(Effect::WriteReport),
        Phase::CommittingReport { .. } => Step::Do(Effect::CommitReport {
            path: state.report_path.clone().unwrap_or_default(),
        }),
        Phase::FindingIssues => Step::Do(Effect::FindIssues),
        Phase::ClosingIssues => Step::Do(Effect::CloseIssue {
            // `apply` leaves this phase when none is pending; 0 keeps it total.
            issue: state.issues_pending.first().copied().unwrap_or_default(),
        }),
        // Green leaves the router's split before it stops: never a request
        // sent to an instance that is going away.
        Phase::StoppingGreen { .. } if state.canary.as_ref().is_some_and(|c| !c.withdrawn) => {
            Step::Do(Effect::WithdrawCanary {
                blue: blue_endpoint(state),
                green: endpoint,
            })
        }
        Phase::StoppingGreen { ending } => green(matches!(ending, Ending::RolledBack)),
        Phase::Restoring(stage) => {
            // `apply` sets the target with the phase; the default keeps this total.
            let (release, slot) = state
                .restore
                .clone()
                .unwrap_or_else(|| (String::new(), state.green_slot.other()));
            let restored = state.restore_endpoint.clone().unwrap_or_default();
            match stage {
                RestoreStage::Starting => Step::Do(Effect::StartInstance {
                    slot,
                    release,
                    attempt: 1,
                    fresh_port: false,
                }),
                RestoreStage::AwaitingHealth => Step::Do(Effect::WaitHealthy {
                    slot,
                    endpoint: restored,
                }),
                RestoreStage::Abandoning => Step::Do(Effect::StopInstance {
                    slot,
                    release,
                    retain: true,
                }),
                RestoreStage::Switching => Step::Do(Effect::SwitchTraffic {
                    to: slot,
                    endpoint: restored,
                }),
                RestoreStage::Draining => Step::Do(Effect::Drain {
                    slot: state.green_slot,
                }),
                RestoreStage::Stopping => green(true),
            }
        }
        Phase::Done(outcome) => Step::Finished(*outcome),
    }
}

/// The background analysis' next measurement, while a canary's steps go
/// on: a second lane beside `next_step`, which the Driver runs at the same
/// time, so the run covers the whole canary and not only its pauses.
pub fn background_step(state: &Deployment) -> Option<Effect> {
    let tally = state.background.as_ref()?;
    if !state.in_canary() {
        return None;
    }
    let index = tally.next_index();
    let wait_ms = state
        .policy
        .analyses
        .get(&tally.name)
        .map_or(0, |limits| limits.wait_ms(index));
    Some(Effect::Measure {
        name: tally.name.clone(),
        phase: AnalysisPhase::Background,
        index,
        wait_ms,
    })
}

fn blue_endpoint(state: &Deployment) -> String {
    state
        .blue
        .as_ref()
        .map(|b| b.endpoint.clone())
        .unwrap_or_default()
}

fn unheard(seats: &[String], heard: &[super::state::Review]) -> Vec<String> {
    seats
        .iter()
        .filter(|seat| !heard.iter().any(|r| &r.member == *seat))
        .cloned()
        .collect()
}
