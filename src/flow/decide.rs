//! `decide`: given a deployment's state and what just happened (an
//! effect's result or a person's command), the events to append. Pure: no
//! IO, no clock. An input that does not fit the state is refused and
//! appends nothing.

use serde::Serialize;

use super::analysis::{self, RunTally};
use super::completion;
use super::consensus;
use super::fix_loop;
use super::phase::{Stage, stage_of};
use super::state::{Deployment, Ending, Phase, RestoreStage, ReviewStage};
use super::step::{Step, next_step, target_url};
use crate::events::payloads::{
    AlertReceived, AnalysisCompleted, AnalysisMeasured, AnalysisStarted, Drained, FixAttempted,
    GreenHealthy, GreenStarted, GreenUnhealthy, Intervention, IssueClosed, IssuesReferenced,
    ReportCommitted, ReportWritten, SynthesisRecorded, TestRunCompleted, VerdictRecorded,
};
use crate::events::{
    AnalysisPhase, Decision, Event, FixOutcome, MissingInput, Outcome, Role, RolloutStep,
    RunVerdict, Tier,
};

/// What the shell reports back, or what a person asks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "input")]
pub enum Input {
    InputsChecked {
        checked: Vec<String>,
        missing: Vec<MissingInput>,
    },
    InstanceStarted(GreenStarted),
    InstanceFailed {
        diagnosis: String,
    },
    Healthy(GreenHealthy),
    Unhealthy(GreenUnhealthy),
    FixDone(FixAttempted),
    TestsRan(TestRunCompleted),
    Verdict(VerdictRecorded),
    Synthesis(SynthesisRecorded),
    Switched,
    Drained(Drained),
    InstanceStopped,
    ReportWritten(ReportWritten),
    ReportCommitted(ReportCommitted),
    IssuesFound(IssuesReferenced),
    IssueHandled(IssueClosed),
    Approve(Intervention),
    Reject(Intervention),
    Abort(Intervention),
    /// Every metric of the running analysis, measured once.
    Measured(Vec<AnalysisMeasured>),
    /// Every metric of the background analysis, measured once.
    BackgroundMeasured(Vec<AnalysisMeasured>),
    /// The router took a canary's weight (or, leaving, sent all to blue).
    WeightSet {
        percent: u8,
    },
    /// A canary's pause was held.
    Paused {
        waited_ms: u64,
    },
    /// An alert from monitoring about the release.
    Alert(AlertReceived),
    /// Blue was kept for the scale-down delay after the switch.
    BlueKept {
        waited_ms: u64,
    },
    Rollback {
        by: String,
        reason: String,
        to_release: Option<String>,
    },
    /// An effect failed in a way no loop of the flow can handle.
    EffectFailed {
        reason: String,
    },
}

impl Input {
    fn name(&self) -> &'static str {
        match self {
            Input::InputsChecked { .. } => "inputs checked",
            Input::InstanceStarted(_) => "instance started",
            Input::InstanceFailed { .. } => "instance failed",
            Input::Healthy(_) | Input::Unhealthy(_) => "health result",
            Input::FixDone(_) => "fix result",
            Input::TestsRan(_) => "test result",
            Input::Verdict(_) => "verdict",
            Input::Synthesis(_) => "synthesis",
            Input::Switched => "traffic switched",
            Input::Drained(_) => "drain result",
            Input::InstanceStopped => "instance stopped",
            Input::ReportWritten(_) => "report written",
            Input::ReportCommitted(_) => "report commit",
            Input::IssuesFound(_) => "issues found",
            Input::IssueHandled(_) => "issue handled",
            Input::Approve(_) => "approve",
            Input::Reject(_) => "reject",
            Input::Abort(_) => "abort",
            Input::Measured(_) | Input::BackgroundMeasured(_) => "measurement",
            Input::WeightSet { .. } => "weight set",
            Input::Paused { .. } => "pause held",
            Input::BlueKept { .. } => "scale-down delay",
            Input::Alert(_) => "alert",
            Input::Rollback { .. } => "rollback",
            Input::EffectFailed { .. } => "effect failed",
        }
    }
}

/// Why an input was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the deployment has already ended ({})", .0.words())]
    Finished(Outcome),
    #[error("the deployment is not waiting at the manual gate")]
    NotAtGate,
    #[error("traffic is already switching to the release: wait for the end, then roll back")]
    AlreadySwitching,
    #[error("the deployment is already ending")]
    AlreadyEnding,
    #[error("nothing to roll back to: this was the app's first deploy; name a release with --to")]
    NothingToRollBackTo,
    #[error("only a promoted deployment can be rolled back after the fact; this one ended {}", .0.words())]
    NotPromoted(Outcome),
    #[error("a {input} does not fit a deployment at {stage}")]
    Unexpected { input: &'static str, stage: String },
    #[error("{0} has no seat in this review, or was already heard")]
    NotASeat(String),
    #[error(
        "blue ({0}) still runs beside the release: rolling back goes to it at once; to go to another release, wait until the deployment ends"
    )]
    BlueStillKept(String),
    #[error("the release has not gone live: an alert is about what serves")]
    NotLive,
}

/// Events appended one by one onto a scratch copy of the state, so each
/// decision after the first sees the state the earlier events make.
struct Emitter {
    state: Deployment,
    events: Vec<Event>,
}

impl Emitter {
    fn push(&mut self, event: Event) {
        self.state.apply(&event);
        self.events.push(event);
    }

    fn extend(&mut self, events: Vec<Event>) {
        for event in events {
            self.push(event);
        }
    }
}

pub fn decide(state: &Deployment, input: Input) -> Result<Vec<Event>, Refusal> {
    let mut out = Emitter {
        state: state.clone(),
        events: Vec::new(),
    };
    match input {
        Input::Approve(call) => match state.phase {
            Phase::AwaitingApproval => approved(&mut out, call),
            // `--full` skips whatever step the canary is at.
            _ if call.full && state.in_canary() => approved(&mut out, call),
            Phase::Done(outcome) => return Err(Refusal::Finished(outcome)),
            _ => return Err(Refusal::NotAtGate),
        },
        Input::Reject(call) => match state.phase {
            Phase::AwaitingApproval => {
                let why = format!(
                    "rejected at the manual gate by {}: {}",
                    call.by, call.reason
                );
                out.push(Event::ManuallyRejected(call));
                out.push(roll_back(state, why));
            }
            Phase::Done(outcome) => return Err(Refusal::Finished(outcome)),
            _ => return Err(Refusal::NotAtGate),
        },
        Input::Abort(call) => {
            ongoing_before_switch(state)?;
            let why = format!("aborted by {}: {}", call.by, call.reason);
            out.push(Event::Aborted(call));
            // Green has taken traffic: leaving it is a rollback.
            if state.canary.is_some() {
                out.push(rollback_before_promotion(state, why));
            }
            if state.deploy_attempt == 0 {
                out.push(Event::Completed {
                    outcome: Outcome::Aborted,
                });
            }
        }
        Input::Rollback {
            by,
            reason,
            to_release,
        } => match state.phase {
            // A deployment that failed after its switch left its release live.
            Phase::Done(Outcome::Promoted) | Phase::Done(Outcome::Failed) if state.switched => {
                let to = to_release.or_else(|| state.blue.as_ref().map(|b| b.release.clone()));
                let Some(to) = to else {
                    return Err(Refusal::NothingToRollBackTo);
                };
                out.push(Event::RollbackStarted {
                    reason: format!("requested by {by}: {reason}"),
                    after_promotion: true,
                    to_release: Some(to),
                });
            }
            Phase::Done(outcome) => return Err(Refusal::NotPromoted(outcome)),
            // Blue still runs, kept after the switch: back to it at once.
            _ if blue_kept(state) => {
                let blue = state.blue.as_ref().map(|b| b.release.clone());
                if to_release.is_some() && to_release != blue {
                    return Err(Refusal::BlueStillKept(blue.unwrap_or_default()));
                }
                out.push(roll_back(state, format!("requested by {by}: {reason}")));
            }
            _ => {
                ongoing_before_switch(state)?;
                out.push(rollback_before_promotion(
                    state,
                    format!("requested by {by}: {reason}"),
                ));
                if state.deploy_attempt == 0 {
                    out.push(rolled_back(state));
                    out.push(Event::Completed {
                        outcome: Outcome::RolledBack,
                    });
                }
            }
        },
        Input::Alert(alert) => alerted(&mut out, state, alert)?,
        Input::EffectFailed { reason } => fail(&mut out, state, reason)?,
        result => answer(&mut out, state, result)?,
    }
    Ok(out.events)
}

/// Abort and an early rollback only apply while green is not serving.
fn ongoing_before_switch(state: &Deployment) -> Result<(), Refusal> {
    match state.phase {
        Phase::Done(outcome) => Err(Refusal::Finished(outcome)),
        // From the switch on, green may be serving: stopping it is no
        // longer a rollback that leaves blue untouched.
        Phase::Switching | Phase::Restoring(_) => Err(Refusal::AlreadySwitching),
        _ if state.switched => Err(Refusal::AlreadySwitching),
        Phase::StoppingGreen { .. }
        | Phase::Reporting { .. }
        | Phase::CommittingReport { .. }
        | Phase::FindingIssues
        | Phase::ClosingIssues => Err(Refusal::AlreadyEnding),
        _ => Ok(()),
    }
}

/// An alert is recorded; a firing one soon enough after the switch rolls
/// the release back when the policy says so: to the blue still kept, at
/// once, or, after the deployment ended, to the retained release.
fn alerted(out: &mut Emitter, state: &Deployment, alert: AlertReceived) -> Result<(), Refusal> {
    let window = state.policy.rollback_on_alert_ms;
    let in_window = matches!((window, alert.since_switch_ms), (Some(w), Some(since)) if since < w);
    let why = format!("alert {} firing", alert.names());
    let firing = alert.firing();
    match state.phase {
        Phase::Done(outcome) if outcome != Outcome::Promoted => {
            return Err(Refusal::NotPromoted(outcome));
        }
        _ if !state.switched => return Err(Refusal::NotLive),
        _ => {}
    }
    out.push(Event::AlertReceived(alert));
    if !(firing && in_window) {
        return Ok(());
    }
    match state.phase {
        _ if blue_kept(state) => out.push(roll_back(state, why)),
        Phase::Done(Outcome::Promoted) => {
            if let Some(to) = state.blue.as_ref().map(|b| b.release.clone()) {
                out.push(Event::RollbackStarted {
                    reason: why,
                    after_promotion: true,
                    to_release: Some(to),
                });
            }
        }
        // Between the switch and the end (drain, report): recorded; the
        // deployment ends promoted, and a later alert can roll it back.
        _ => {}
    }
    Ok(())
}

/// Blue has not stopped since the switch: it can serve again at once.
fn blue_kept(state: &Deployment) -> bool {
    state.switched
        && !state.blue_stopped
        && state.blue.is_some()
        && matches!(
            state.phase,
            Phase::Analyzing(_) | Phase::KeepingBlue | Phase::AwaitingApproval
        )
}

/// The rollback that fits where the deployment is: before the switch, blue
/// was never touched; after it, while blue is kept, traffic goes back to it.
fn roll_back(state: &Deployment, reason: String) -> Event {
    if blue_kept(state) {
        Event::RollbackStarted {
            reason,
            after_promotion: true,
            to_release: state.blue.as_ref().map(|b| b.release.clone()),
        }
    } else {
        rollback_before_promotion(state, reason)
    }
}

fn rollback_before_promotion(state: &Deployment, reason: String) -> Event {
    let reason = match canary_position(state) {
        Some(at) => format!("{reason} ({at})"),
        None => reason,
    };
    Event::RollbackStarted {
        reason,
        after_promotion: false,
        to_release: state.blue.as_ref().map(|b| b.release.clone()),
    }
}

/// Where a canary had got to, in words: the step and green's share.
fn canary_position(state: &Deployment) -> Option<String> {
    let canary = state.canary.as_ref()?;
    Some(format!(
        "at step {} of {}, {}; green at {} %",
        canary.index + 1,
        state.policy.steps.len(),
        canary.step.describe(),
        state.weight.unwrap_or(0)
    ))
}

fn rolled_back(state: &Deployment) -> Event {
    Event::RollbackCompleted {
        live_release: state.blue.as_ref().map(|b| b.release.clone()),
        live_slot: state.blue.as_ref().map(|b| b.slot),
    }
}

/// After a completion step's result: the end, when nothing is left to do.
fn finish_completion(out: &mut Emitter, done: Stage) {
    let events = completion::closing_events(&out.state, done);
    out.extend(events);
}

fn fail(out: &mut Emitter, state: &Deployment, reason: String) -> Result<(), Refusal> {
    // A completion step that fails is noted; the deployment ends as it was
    // going to.
    if let (Some(stage), Step::Do(effect)) = (stage_of(&state.phase), next_step(state)) {
        out.push(Event::CompletionStepFailed {
            step: effect.name().to_string(),
            reason,
        });
        finish_completion(out, stage);
        return Ok(());
    }
    match &state.phase {
        Phase::Done(outcome) => return Err(Refusal::Finished(*outcome)),
        Phase::Restoring(stage) => {
            match stage {
                RestoreStage::Draining | RestoreStage::Stopping => {
                    // Traffic already moved back: the rollback happened,
                    // and is reported as every ending is.
                    out.push(Event::Failed { reason });
                    out.push(restored(state));
                }
                RestoreStage::Abandoning => out.push(Event::RollbackFailed { reason }),
                // The restored instance may be running: stop it first.
                RestoreStage::Starting | RestoreStage::AwaitingHealth | RestoreStage::Switching => {
                    let slot = state
                        .restore
                        .as_ref()
                        .map_or(state.green_slot.other(), |(_, slot)| *slot);
                    out.push(did_not_start(slot, reason));
                }
            }
            return Ok(());
        }
        _ => {}
    }
    out.push(Event::Failed { reason });
    // Nothing ran before the first deploy: nothing to stop or report. In
    // every other case `apply` goes on to stopping green or to the report.
    if state.deploy_attempt == 0 {
        out.push(Event::Completed {
            outcome: Outcome::Failed,
        });
    }
    Ok(())
}

/// An instance that never got to answer: unhealthy after no check.
fn did_not_start(slot: crate::events::Slot, diagnosis: String) -> Event {
    Event::GreenUnhealthy(GreenUnhealthy {
        slot,
        checks: 0,
        elapsed_ms: 0,
        diagnosis,
    })
}

fn restored(state: &Deployment) -> Event {
    Event::RollbackCompleted {
        live_release: state.restore.as_ref().map(|(release, _)| release.clone()),
        live_slot: state.restore.as_ref().map(|(_, slot)| *slot),
    }
}

fn unexpected(state: &Deployment, input: &Input) -> Refusal {
    match state.phase {
        Phase::Done(outcome) => Refusal::Finished(outcome),
        _ => Refusal::Unexpected {
            input: input.name(),
            stage: state.stage().replace('_', " "),
        },
    }
}

/// An effect's result, checked against the step the state was waiting on.
fn answer(out: &mut Emitter, state: &Deployment, input: Input) -> Result<(), Refusal> {
    let slot = state.green_slot;
    let green_endpoint = state.green_endpoint.clone().unwrap_or_default();
    match (&state.phase, input) {
        (Phase::Validating, Input::InputsChecked { checked, missing }) => {
            let mut missing = missing;
            if let Some(error) = &state.config_error {
                missing.push(MissingInput {
                    item: "config".into(),
                    reason: error.clone(),
                });
            }
            if missing.is_empty() {
                out.push(Event::InputsValidated { checked });
                out.push(Event::GreenDeployIntended {
                    slot,
                    release: state.release.clone(),
                    attempt: 1,
                });
            } else {
                out.push(Event::InputsRejected { missing });
                out.push(Event::Completed {
                    outcome: Outcome::Rejected,
                });
            }
        }
        (Phase::StartingGreen, Input::InstanceStarted(started)) => {
            out.push(Event::GreenStarted(GreenStarted { slot, ..started }));
        }
        (Phase::StartingGreen, Input::InstanceFailed { diagnosis }) => {
            out.push(did_not_start(slot, diagnosis));
            let entry = fix_loop::enter(&out.state, Tier::Driver, "green did not start");
            out.extend(entry);
        }
        (Phase::AwaitingHealth, Input::Healthy(healthy)) => {
            out.push(Event::GreenHealthy(GreenHealthy {
                slot,
                endpoint: green_endpoint.clone(),
                ..healthy
            }));
            out.push(Event::TestRunIntended {
                command: state.policy.tests.clone(),
                target_url: target_url(&green_endpoint),
            });
        }
        (Phase::AwaitingHealth, Input::Unhealthy(unhealthy)) => {
            out.push(Event::GreenUnhealthy(GreenUnhealthy { slot, ..unhealthy }));
            let entry = fix_loop::enter(&out.state, Tier::Driver, "green is not healthy");
            out.extend(entry);
        }
        (Phase::Fixing { cause }, Input::FixDone(fix)) => {
            let (tier, outcome) = (state.tier, fix.outcome);
            let remedy = super::triage::remedy_for(state, tier);
            // What was asked is the state's to say, whatever the shell
            // echoed; the Driver tier's choice says why it fits.
            let action = match tier {
                Tier::Driver => format!("{} ({})", fix.action, super::triage::triage(state).why),
                _ => fix.action.clone(),
            };
            out.push(Event::FixAttempted(FixAttempted {
                tier,
                attempt: state.fixes.get(tier) + 1,
                diagnosis: fix_loop::diagnosis(cause),
                action,
                ..fix
            }));
            match outcome {
                FixOutcome::Applied if remedy == fix_loop::Remedy::Rerun => {
                    out.push(Event::TestRunIntended {
                        command: state.policy.tests.clone(),
                        target_url: target_url(&green_endpoint),
                    })
                }
                FixOutcome::Applied => out.push(Event::GreenDeployIntended {
                    slot,
                    release: state.release.clone(),
                    attempt: state.deploy_attempt + 1,
                }),
                FixOutcome::NotApplied => {
                    let why = format!("the {} tier's fixes did not apply", tier.name());
                    let entry = fix_loop::enter(&out.state, tier, &why);
                    out.extend(entry);
                }
                FixOutcome::GaveUp => {
                    let why = format!("the {} tier gave up", tier.name());
                    let entry = match fix_loop::above(tier) {
                        Some(higher) => fix_loop::enter(&out.state, higher, &why),
                        None => vec![fix_loop::exhausted(&out.state, &why)],
                    };
                    out.extend(entry);
                }
            }
        }
        (Phase::Testing, Input::TestsRan(run)) => {
            let passed = super::state::tests_passed(run.failed, run.exit_code);
            out.push(Event::TestRunCompleted(run));
            if passed {
                out.push(Event::ReviewRequested {
                    round: state.round + 1,
                    members: state.policy.trio.clone(),
                });
            } else {
                let entry = fix_loop::enter(&out.state, Tier::Driver, "tests failed");
                out.extend(entry);
            }
        }
        (Phase::Reviewing { stage }, Input::Verdict(answer)) => {
            let (role, member) = (answer.role, answer.member.clone());
            let (seats, heard) = match (stage, role) {
                (ReviewStage::Trio, Role::Trio) => (&state.policy.trio, &state.trio_reviews),
                (ReviewStage::Juniors, Role::Junior) => {
                    (&state.policy.juniors, &state.junior_reviews)
                }
                (_, role) => {
                    return Err(Refusal::Unexpected {
                        input: "verdict",
                        stage: format!(
                            "review stage {} (verdict from a {})",
                            format!("{stage:?}").to_lowercase(),
                            role.words()
                        ),
                    });
                }
            };
            if !seats.contains(&member) || heard.iter().any(|r| r.member == member) {
                return Err(Refusal::NotASeat(member));
            }
            // It counts in the deployment's round, whatever it was asked in.
            out.push(Event::VerdictRecorded(VerdictRecorded {
                round: state.round,
                ..answer
            }));
            if role == Role::Junior && out.state.junior_reviews.len() >= state.policy.juniors.len()
            {
                conclude(out);
            }
        }
        (
            Phase::Reviewing {
                stage: ReviewStage::Synthesis,
            },
            Input::Synthesis(answer),
        ) => {
            out.push(Event::SynthesisRecorded(SynthesisRecorded {
                round: state.round,
                ..answer
            }));
            if state.policy.juniors.is_empty() {
                conclude(out);
            }
        }
        (Phase::Analyzing(tally), Input::Measured(measurements)) => {
            measured(out, state, tally, measurements)
        }
        (_, Input::BackgroundMeasured(measurements)) if state.in_canary() => {
            let Some(tally) = &state.background else {
                return Err(unexpected(state, &Input::BackgroundMeasured(measurements)));
            };
            background_measured(out, state, tally, measurements)
        }
        (Phase::Stepping, Input::WeightSet { .. }) => match &state.canary {
            Some(canary) if !canary.completed => {
                let RolloutStep::SetWeight(percent) = canary.step else {
                    return Err(unexpected(state, &Input::WeightSet { percent: 0 }));
                };
                out.push(Event::WeightSet { percent });
                complete_step(out, format!("green takes {percent} % of the traffic"));
            }
            _ => return Err(unexpected(state, &Input::WeightSet { percent: 0 })),
        },
        (Phase::Stepping, Input::Paused { waited_ms }) => match &state.canary {
            Some(canary) if canary.completed => start_step(out, canary.index + 1),
            Some(canary) => match &canary.step {
                RolloutStep::PauseS(_) => {
                    complete_step(out, format!("held {} s", waited_ms / 1000));
                }
                RolloutStep::Analysis(name) => start_analysis(out, name, AnalysisPhase::Canary),
                RolloutStep::SetWeight(_) | RolloutStep::Pause(_) => {
                    return Err(unexpected(state, &Input::Paused { waited_ms }));
                }
            },
            None => return Err(unexpected(state, &Input::Paused { waited_ms })),
        },
        // Green failed while it took traffic: the canary is left at once.
        (
            Phase::Stepping | Phase::Analyzing(_) | Phase::AwaitingApproval,
            Input::Unhealthy(unhealthy),
        ) if state.in_canary() => {
            out.push(roll_back(
                state,
                format!("green failed during the canary: {}", unhealthy.diagnosis),
            ));
        }
        (Phase::StoppingGreen { .. }, Input::WeightSet { .. })
            if state.canary.as_ref().is_some_and(|c| !c.withdrawn) =>
        {
            out.push(Event::WeightSet { percent: 0 });
        }
        (Phase::Switching, Input::Switched) => out.push(Event::TrafficSwitched {
            from: state.blue.as_ref().map(|b| b.slot),
            to: slot,
            endpoint: green_endpoint,
        }),
        (Phase::DrainingBlue, Input::Drained(drained)) => {
            out.push(Event::Drained(Drained {
                slot: slot.other(),
                ..drained
            }));
            start_next_analysis(out);
        }
        (Phase::KeepingBlue, Input::BlueKept { waited_ms }) => {
            out.push(Event::BlueKept { waited_ms })
        }
        (Phase::StoppingBlue, Input::InstanceStopped) => out.push(Event::BlueStopped {
            slot: slot.other(),
            release: state
                .blue
                .as_ref()
                .map(|b| b.release.clone())
                .unwrap_or_default(),
            retained: state.policy.retain > 0,
        }),
        (Phase::Reporting { .. }, Input::ReportWritten(report)) => {
            out.push(Event::ReportWritten(report));
            finish_completion(out, Stage::Report);
        }
        (Phase::CommittingReport { .. }, Input::ReportCommitted(commit)) => {
            out.push(Event::ReportCommitted(commit));
            finish_completion(out, Stage::Commit);
        }
        (Phase::FindingIssues, Input::IssuesFound(found)) => {
            out.push(Event::IssuesReferenced(found));
            finish_completion(out, Stage::FindIssues);
        }
        (Phase::ClosingIssues, Input::IssueHandled(handled))
            if state.issues_pending.first() == Some(&handled.issue) =>
        {
            out.push(Event::IssueClosed(handled));
            finish_completion(out, Stage::CloseIssue);
        }
        (Phase::StoppingGreen { ending }, Input::InstanceStopped) => {
            out.push(Event::GreenStopped {
                slot,
                release: state.release.clone(),
            });
            if *ending == Ending::RolledBack {
                out.push(rolled_back(state));
            }
        }
        (Phase::Restoring(stage), input) => restore(out, state, *stage, input)?,
        (_, input) => return Err(unexpected(state, &input)),
    }
    Ok(())
}

/// The round's verdicts are all in: decide, and act on the decision.
fn conclude(out: &mut Emitter) {
    let (decision, rule) = consensus::decide_round(&out.state);
    let round = out.state.round;
    out.push(Event::DecisionMade {
        round,
        decision,
        rule: rule.clone(),
    });
    match decision {
        Decision::Promote => start_next_analysis(out),
        Decision::AwaitManualApproval => {}
        Decision::FixesNeeded => {
            // The Driver tier's remedies restart; they do not change code.
            let why = format!("review round {round} asks for code fixes");
            let entry = fix_loop::enter(&out.state, Tier::Senior, &why);
            out.extend(entry);
        }
        Decision::ReturnToDevelopment => {
            let findings = out
                .state
                .synthesis
                .as_ref()
                .map(|s| s.findings.clone())
                .unwrap_or_default();
            out.push(Event::ReturnedToDevelopment {
                reason: rule,
                findings,
            });
        }
        Decision::Rollback => {
            let event = rollback_before_promotion(&out.state, rule);
            out.push(event);
        }
    }
}

/// On the way to the switch: the next pre-promotion template starts, if
/// one is left.
fn start_next_analysis(out: &mut Emitter) {
    let state = &out.state;
    let (phase, done) = match state.phase {
        Phase::Switching => (AnalysisPhase::PrePromotion, state.pre_promotion_done),
        Phase::KeepingBlue => (AnalysisPhase::PostPromotion, state.post_promotion_done),
        _ => return,
    };
    let next = usize::try_from(done)
        .ok()
        .and_then(|done| state.policy.analyses_of(phase).get(done));
    match next {
        Some(name) => {
            let name = name.clone();
            start_analysis(out, &name, phase);
        }
        None if phase == AnalysisPhase::PrePromotion => begin_canary(out),
        None => {}
    }
}

fn start_analysis(out: &mut Emitter, name: &str, phase: AnalysisPhase) {
    let event = Event::AnalysisStarted(AnalysisStarted {
        name: name.to_string(),
        phase,
        run: out.state.analysis_runs + 1,
    });
    out.push(event);
}

/// Where Blue/Green would switch, a canary takes its first step instead.
/// On a first deploy there is no blue to split with: the switch is whole.
fn begin_canary(out: &mut Emitter) {
    let state = &out.state;
    let begins = state.policy.canary
        && !state.policy.steps.is_empty()
        && state.blue.is_some()
        && state.canary.is_none()
        && !state.full
        && state.phase == Phase::Switching;
    if begins {
        start_step(out, 0);
    }
}

/// Step `index` of the canary starts: with its analysis, if it is one, and
/// with the background analysis, if it starts here.
fn start_step(out: &mut Emitter, index: u32) {
    let Some(step) = out.state.policy.steps.get(index as usize).cloned() else {
        return;
    };
    out.push(Event::StepStarted {
        index,
        step: step.clone(),
    });
    let background = out.state.policy.background.clone();
    if let Some((name, from)) = background
        && from == index
        && out.state.background.is_none()
    {
        start_analysis(out, &name, AnalysisPhase::Background);
    }
    if let RolloutStep::Analysis(name) = &step {
        start_analysis(out, name, AnalysisPhase::Canary);
    }
}

/// The canary's current step ended well: the next one starts, or, after
/// the last (or `--full`), the switch is next and a background run still
/// going ends with it.
fn complete_step(out: &mut Emitter, detail: String) {
    let Some(index) = out.state.canary.as_ref().map(|c| c.index) else {
        return;
    };
    out.push(Event::StepCompleted { index, detail });
    match out.state.phase {
        Phase::Stepping => start_step(out, index + 1),
        Phase::Switching => {
            if let Some(background) = out.state.background.clone() {
                out.push(Event::AnalysisCompleted(AnalysisCompleted {
                    name: background.name,
                    phase: AnalysisPhase::Background,
                    verdict: RunVerdict::Successful,
                    reason: "the canary's steps ended with every measurement within the limits"
                        .into(),
                }));
            }
        }
        _ => {}
    }
}

/// A person approved: the gate opens, or the canary's step it held ends.
fn approved(out: &mut Emitter, call: Intervention) {
    let detail = if call.full {
        format!("skipped: approved --full by {}", call.by)
    } else {
        format!("approved by {}", call.by)
    };
    out.push(Event::ManuallyApproved(call));
    if out.state.phase == Phase::Stepping {
        complete_step(out, detail);
    } else {
        start_next_analysis(out);
    }
}

/// A round of measurements: each counts once, at the run's next index;
/// when the limits decide, the run ends, and its verdict moves the
/// deployment on (the next template or the switch), back (a rollback
/// that leaves blue untouched) or to a person (the manual gate).
fn measured(
    out: &mut Emitter,
    state: &Deployment,
    tally: &RunTally,
    measurements: Vec<AnalysisMeasured>,
) {
    // A run without a count lasts as long as blue is kept.
    let window_ms =
        (tally.phase == AnalysisPhase::PostPromotion).then_some(state.policy.keep_blue_ms);
    let ended = record_round(
        out,
        state,
        tally,
        measurements,
        window_ms,
        |now| match &now.phase {
            Phase::Analyzing(run) => Some(run),
            _ => None,
        },
    );
    let Some((verdict, reason)) = ended else {
        return;
    };
    let name = &tally.name;
    match verdict {
        RunVerdict::Successful if tally.phase == AnalysisPhase::Canary => {
            complete_step(out, format!("analysis `{name}` successful: {reason}"))
        }
        RunVerdict::Successful => start_next_analysis(out),
        RunVerdict::Inconclusive => {}
        RunVerdict::Failed => {
            let event = roll_back(&out.state, format!("analysis `{name}` failed: {reason}"));
            out.push(event);
        }
    }
}

/// A round of the background analysis' measurements: as `measured`, but
/// beside the steps: a failure leaves the canary, an inconclusive run
/// holds it at the manual gate, and a run that ends well changes nothing.
fn background_measured(
    out: &mut Emitter,
    state: &Deployment,
    tally: &RunTally,
    measurements: Vec<AnalysisMeasured>,
) {
    let ended = record_round(out, state, tally, measurements, None, |now| {
        now.background.as_ref()
    });
    if let Some((RunVerdict::Failed, reason)) = ended {
        let event = roll_back(
            &out.state,
            format!("background analysis `{}` failed: {reason}", tally.name),
        );
        out.push(event);
    }
}

/// Records a round of `tally`'s run, each measurement once at the run's
/// next index and under the run's name, then judges the run as `lane`
/// finds it after them; when the limits decide, the run ends
/// (`analysis_completed`) and its verdict and reason are returned.
fn record_round(
    out: &mut Emitter,
    state: &Deployment,
    tally: &RunTally,
    measurements: Vec<AnalysisMeasured>,
    window_ms: Option<u64>,
    lane: impl Fn(&Deployment) -> Option<&RunTally>,
) -> Option<(RunVerdict, String)> {
    let index = tally.next_index();
    for measurement in measurements {
        let counts = tally
            .metrics
            .iter()
            .any(|t| t.metric == measurement.metric && t.measured == index);
        if counts {
            out.push(Event::AnalysisMeasured(AnalysisMeasured {
                name: tally.name.clone(),
                index,
                ..measurement
            }));
        }
    }
    let limits = state
        .policy
        .analyses
        .get(&tally.name)
        .cloned()
        .unwrap_or_default();
    let (verdict, reason) = analysis::judge(&limits, lane(&out.state)?, window_ms)?;
    out.push(Event::AnalysisCompleted(AnalysisCompleted {
        name: tally.name.clone(),
        phase: tally.phase,
        verdict,
        reason: reason.clone(),
    }));
    Some((verdict, reason))
}

/// Bringing the retained release back after a promotion.
fn restore(
    out: &mut Emitter,
    state: &Deployment,
    stage: RestoreStage,
    input: Input,
) -> Result<(), Refusal> {
    let (release, slot) = state
        .restore
        .clone()
        .unwrap_or_else(|| (String::new(), state.green_slot.other()));
    let endpoint = state.restore_endpoint.clone().unwrap_or_default();
    match (stage, input) {
        (RestoreStage::Starting, Input::InstanceStarted(started)) => {
            out.push(Event::GreenStarted(GreenStarted { slot, ..started }))
        }
        (RestoreStage::Starting, Input::InstanceFailed { diagnosis }) => {
            out.push(did_not_start(slot, diagnosis))
        }
        (RestoreStage::AwaitingHealth, Input::Healthy(healthy)) => {
            out.push(Event::GreenHealthy(GreenHealthy {
                slot,
                endpoint,
                ..healthy
            }))
        }
        (RestoreStage::AwaitingHealth, Input::Unhealthy(unhealthy)) => {
            out.push(Event::GreenUnhealthy(GreenUnhealthy { slot, ..unhealthy }))
        }
        (RestoreStage::Abandoning, Input::InstanceStopped) => out.push(Event::RollbackFailed {
            reason: format!(
                "{release} did not become healthy again; traffic stays on {}",
                state.release
            ),
        }),
        (RestoreStage::Switching, Input::Switched) => out.push(Event::TrafficSwitched {
            from: Some(state.green_slot),
            to: slot,
            endpoint,
        }),
        (RestoreStage::Draining, Input::Drained(drained)) => out.push(Event::Drained(Drained {
            slot: state.green_slot,
            ..drained
        })),
        (RestoreStage::Stopping, Input::InstanceStopped) => {
            out.push(Event::BlueStopped {
                slot: state.green_slot,
                release: state.release.clone(),
                retained: true,
            });
            // Reported next, as every ending is.
            out.push(restored(state));
        }
        (_, input) => return Err(unexpected(state, &input)),
    }
    Ok(())
}
