//! A deployment's state, folded from its events. `apply` is total and pure:
//! the same events always give the same state, which is what makes replay
//! and crash recovery exact.

use serde::{Deserialize, Serialize};

use super::analysis::RunTally;
use super::phase::{CompletionNeeds, Stage, ending, next_completion_phase, stage_of};
pub use super::phase::{Ending, FixCause, Phase, RestoreStage, ReviewStage};
use super::policy::Policy;
use super::remedy::Remedy;
use super::triage::remedy_for;
use crate::events::payloads::{
    AnalysisCompleted, AnalysisStarted, Answer, FixAttempted, GreenStarted, GreenUnhealthy,
    IssueClosed, IssuesReferenced, ReportCommitted, ReportWritten, SynthesisRecorded,
    TestRunCompleted, VerdictRecorded,
};
use crate::events::{
    AnalysisPhase, Decision, Event, Finding, FixOutcome, IssueOutcome, LiveRelease, Outcome, Role,
    RolloutStep, RunVerdict, Slot, Tier, Verdict,
};

/// A logged config's policy, or why it no longer parses.
pub type PolicyParsed = Result<Policy, String>;

/// A run passes when nothing failed and the command exited 0.
pub fn tests_passed(failed: u32, exit_code: Option<i32>) -> bool {
    failed == 0 && exit_code == Some(0)
}

/// A verdict as the review loop keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub member: String,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

/// Fix attempts made so far, per tier, over the whole deployment: the
/// limits bound the deployment, not one visit to the fix loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixCounts {
    pub driver: u32,
    pub senior: u32,
    pub trio: u32,
}

impl FixCounts {
    pub fn get(&self, tier: Tier) -> u32 {
        match tier {
            Tier::Driver => self.driver,
            Tier::Senior => self.senior,
            Tier::Trio => self.trio,
        }
    }

    fn bump(&mut self, tier: Tier) {
        let count = match tier {
            Tier::Driver => &mut self.driver,
            Tier::Senior => &mut self.senior,
            Tier::Trio => &mut self.trio,
        };
        *count = count.saturating_add(1);
    }

    pub fn total(&self) -> u32 {
        self.driver + self.senior + self.trio
    }
}

/// The last test run's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub app: String,
    pub release: String,
    pub policy: Policy,
    /// Set when the logged config no longer parses; the flow then fails.
    pub config_error: Option<String>,
    pub base_dir: Option<String>,
    /// What served traffic when the deployment started.
    pub blue: Option<LiveRelease>,
    /// The slot the candidate runs in: the one blue does not use.
    pub green_slot: Slot,
    pub phase: Phase,
    /// How many times green was (re)deployed.
    pub deploy_attempt: u32,
    /// Green's direct address once it started.
    pub green_endpoint: Option<String>,
    /// The last fix was the Driver tier's "new port" remedy.
    pub fresh_port: bool,
    pub tier: Tier,
    pub fixes: FixCounts,
    pub round: u32,
    pub trio_reviews: Vec<Review>,
    pub synthesis: Option<Review>,
    pub junior_reviews: Vec<Review>,
    pub last_decision: Option<Decision>,
    pub tests: Option<TestResult>,
    pub switched: bool,
    pub drained: bool,
    pub blue_stopped: bool,
    /// The release a rollback after promotion brings back, and where.
    pub restore: Option<(String, Slot)>,
    pub restore_endpoint: Option<String>,
    /// The report's path once written.
    #[serde(default)]
    pub report_path: Option<String>,
    /// The commit that holds the report, when it was committed.
    #[serde(default)]
    pub report_commit: Option<String>,
    /// That commit is on the remote.
    #[serde(default)]
    pub report_pushed: bool,
    /// Issues named by the release's commits and not handled yet, in order.
    #[serde(default)]
    pub issues_pending: Vec<u64>,
    /// Issues this deployment closed.
    #[serde(default)]
    pub issues_closed: Vec<u64>,
    /// The digest of the code green last started with (its snapshot's).
    #[serde(default)]
    pub digest: Option<String>,
    /// Every `Completed` seen, in order (a rollback after promotion adds one).
    pub completions: Vec<Outcome>,
    /// The side effect announced by the last event, `EffectStarted`, and
    /// not answered yet: after a crash, it may have happened already.
    #[serde(default)]
    pub started: Option<String>,
    /// Analysis runs started so far (the next run's number less one).
    #[serde(default)]
    pub analysis_runs: u32,
    /// Pre-promotion templates that have ended (successful, or
    /// inconclusive and then approved).
    #[serde(default)]
    pub pre_promotion_done: u32,
    /// Post-promotion templates that have ended.
    #[serde(default)]
    pub post_promotion_done: u32,
    /// Why the manual gate is open when an analysis opened it.
    #[serde(default)]
    pub gate_reason: Option<String>,
    /// A canary's progress, once its first step started.
    #[serde(default)]
    pub canary: Option<CanaryAt>,
    /// Green's share of the traffic while the router splits it.
    #[serde(default)]
    pub weight: Option<u8>,
    /// `approve --full`: the canary's remaining steps are skipped.
    #[serde(default)]
    pub full: bool,
    /// The background analysis while it runs beside the canary.
    #[serde(default)]
    pub background: Option<RunTally>,
    /// The first lines of green's diagnoses since it was last healthy, the
    /// last two: the triage's "the same crash twice in a row".
    #[serde(default)]
    pub unhealthy: Vec<String>,
    /// Back-offs the Driver tier applied: each waits twice the last.
    #[serde(default)]
    pub backed_off: u32,
    /// Test runs that failed in a row: the second is the re-run's.
    #[serde(default)]
    pub failed_test_runs: u32,
    /// Events folded so far: the stream version to append after.
    pub version: u64,
}

/// Where a canary is: its current step, and whether the router's split
/// was withdrawn (every request back on blue) on the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryAt {
    pub index: u32,
    pub step: RolloutStep,
    /// `step_completed` for this step was recorded.
    pub completed: bool,
    pub withdrawn: bool,
}

impl Deployment {
    /// The state before any event: `apply` of a `DeploymentRequested` fills it.
    pub fn empty() -> Deployment {
        Deployment {
            app: String::new(),
            release: String::new(),
            policy: Policy::default(),
            config_error: None,
            base_dir: None,
            blue: None,
            green_slot: Slot::Blue,
            phase: Phase::Validating,
            deploy_attempt: 0,
            green_endpoint: None,
            fresh_port: false,
            tier: Tier::Driver,
            fixes: FixCounts::default(),
            round: 0,
            trio_reviews: Vec::new(),
            synthesis: None,
            junior_reviews: Vec::new(),
            last_decision: None,
            tests: None,
            switched: false,
            drained: false,
            blue_stopped: false,
            restore: None,
            restore_endpoint: None,
            report_path: None,
            report_commit: None,
            report_pushed: false,
            issues_pending: Vec::new(),
            issues_closed: Vec::new(),
            digest: None,
            completions: Vec::new(),
            started: None,
            analysis_runs: 0,
            pre_promotion_done: 0,
            post_promotion_done: 0,
            gate_reason: None,
            canary: None,
            weight: None,
            full: false,
            background: None,
            unhealthy: Vec::new(),
            backed_off: 0,
            failed_test_runs: 0,
            version: 0,
        }
    }

    /// Green failed twice in a row with the same first line: it ended the
    /// same way (the exit status and the app's words), so a restart is
    /// not worth trying again.
    pub fn same_crash_again(&self) -> bool {
        matches!(self.unhealthy.as_slice(), [.., before, now] if before == now)
    }

    /// A person is asked to approve or reject: the manual gate, a canary's
    /// manual pause, an analysis that was inconclusive.
    pub fn awaiting_approval(&self) -> bool {
        self.phase == Phase::AwaitingApproval
    }

    /// A canary's steps are under way: begun, not yet done with.
    pub fn in_canary(&self) -> bool {
        !self.switched
            && self.canary.is_some()
            && matches!(
                self.phase,
                Phase::Stepping | Phase::AwaitingApproval | Phase::Analyzing(_)
            )
    }

    /// The state after `events`, in order.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Deployment {
        let mut state = Deployment::empty();
        for event in events {
            state.apply(event);
        }
        state
    }

    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// How it ends, once its completion has begun (before `completed`).
    pub fn completing_as(&self) -> Option<Outcome> {
        stage_of(&self.phase).map(|_| ending(&self.phase))
    }

    /// History's stage name for the phase.
    pub fn stage(&self) -> &'static str {
        match &self.phase {
            Phase::Validating | Phase::StartingGreen | Phase::AwaitingHealth => "prepare",
            Phase::Fixing { .. } => "fix",
            Phase::Testing => "test",
            Phase::Reviewing { .. } => "review",
            Phase::AwaitingApproval => "manual_gate",
            Phase::Analyzing(_) | Phase::KeepingBlue => "analysis",
            Phase::Stepping => "canary",
            Phase::Switching
            | Phase::DrainingBlue
            | Phase::StoppingBlue
            | Phase::Reporting { .. }
            | Phase::CommittingReport { .. }
            | Phase::FindingIssues
            | Phase::ClosingIssues => "completion",
            Phase::StoppingGreen { .. } | Phase::Restoring(_) => "rollback",
            Phase::Done(_) => "done",
        }
    }

    /// The instances are settled: the report of how it `ending`s is next.
    /// A rollback after promotion writes its own, not the promotion's.
    fn enter_reporting(&mut self, ending: Outcome) {
        self.phase = Phase::Reporting { ending };
        self.report_path = None;
        self.report_commit = None;
        self.report_pushed = false;
    }

    /// `stage` of the completion is done: on to the next one the policy
    /// asks for, or stay until `decide` records the end.
    fn complete_step(&mut self, stage: Stage) {
        if let Some(next) = next_completion_phase(&self.phase, stage, self.completion_needs()) {
            self.phase = next;
        }
    }

    /// The findings a round that asks for fixes passes on: the synthesis'
    /// and the Juniors', each once, in order.
    fn review_findings(&self) -> Vec<Finding> {
        let mut findings: Vec<Finding> = Vec::new();
        for finding in self
            .synthesis
            .iter()
            .chain(&self.junior_reviews)
            .flat_map(|r| &r.findings)
        {
            if !findings.contains(finding) {
                findings.push(finding.clone());
            }
        }
        findings
    }

    /// What the completion's next step depends on.
    pub fn completion_needs(&self) -> CompletionNeeds {
        CompletionNeeds {
            forge: self.policy.forge,
            commit: self.policy.commit,
            report_written: self.report_path.is_some(),
            issues_pending: !self.issues_pending.is_empty(),
        }
    }

    pub fn apply(&mut self, event: &Event) {
        self.apply_with(event, &mut Policy::parse);
    }

    /// `apply`, reading a logged config's policy through `policy_of`: a
    /// caller folding many deployments of one config passes a memo of
    /// `Policy::parse` (a pure function, so the result is the same).
    pub fn apply_with(
        &mut self,
        event: &Event,
        policy_of: &mut dyn FnMut(&str, &str) -> PolicyParsed,
    ) {
        self.version += 1;
        // Whatever follows an announced effect answers it.
        self.started = None;
        match event {
            Event::EffectStarted { effect } => self.started = Some(effect.clone()),
            Event::DeploymentRequested {
                app,
                release,
                config,
                blue,
                base_dir,
                ..
            } => {
                self.app = app.clone();
                self.release = release.clone();
                self.blue = blue.clone();
                self.base_dir = base_dir.clone();
                self.green_slot = blue.as_ref().map_or(Slot::Blue, |b| b.slot.other());
                let base = base_dir.as_deref().unwrap_or(".");
                match policy_of(config, base) {
                    Ok(policy) => self.policy = policy,
                    Err(e) => self.config_error = Some(e),
                }
                self.phase = Phase::Validating;
            }
            Event::InputsValidated { .. } | Event::InputsRejected { .. } => {}
            Event::GreenDeployIntended { attempt, .. } => {
                self.deploy_attempt = *attempt;
                self.green_endpoint = None;
                self.phase = Phase::StartingGreen;
            }
            Event::GreenStarted(GreenStarted {
                endpoint, digest, ..
            }) => match self.phase {
                Phase::Restoring(_) => {
                    self.restore_endpoint = Some(endpoint.clone());
                    self.phase = Phase::Restoring(RestoreStage::AwaitingHealth);
                }
                _ => {
                    if digest.is_some() {
                        self.digest = digest.clone();
                    }
                    self.green_endpoint = Some(endpoint.clone());
                    self.fresh_port = false;
                    self.phase = Phase::AwaitingHealth;
                }
            },
            Event::GreenHealthy(_) => {
                self.unhealthy.clear();
                if let Phase::Restoring(_) = self.phase {
                    self.phase = Phase::Restoring(RestoreStage::Switching);
                }
            }
            Event::GreenUnhealthy(GreenUnhealthy { diagnosis, .. }) => match self.phase {
                Phase::Restoring(_) => self.phase = Phase::Restoring(RestoreStage::Abandoning),
                _ => {
                    let headline = super::evidence::headline(diagnosis).to_string();
                    if self.unhealthy.len() >= 2 {
                        self.unhealthy.remove(0);
                    }
                    self.unhealthy.push(headline);
                    self.phase = Phase::Fixing {
                        cause: FixCause::Unhealthy {
                            diagnosis: diagnosis.clone(),
                        },
                    }
                }
            },
            Event::FixAttempted(FixAttempted { tier, outcome, .. }) => {
                // The remedy is the triage's, a function of the state before
                // this event, so the fold derives it rather than reading
                // the shell's words.
                let remedy = remedy_for(self, *tier);
                let applied = *outcome == FixOutcome::Applied;
                self.fresh_port = applied && remedy == Remedy::NewPort;
                if applied && matches!(remedy, Remedy::BackOff { .. }) {
                    self.backed_off += 1;
                }
                self.fixes.bump(*tier);
            }
            Event::Escalated { to, .. } => self.tier = *to,
            Event::TestRunIntended { .. } => self.phase = Phase::Testing,
            Event::TestRunCompleted(TestRunCompleted {
                passed,
                failed,
                skipped,
                exit_code,
                output_tail,
                ..
            }) => {
                self.tests = Some(TestResult {
                    passed: *passed,
                    failed: *failed,
                    skipped: *skipped,
                    exit_code: *exit_code,
                });
                if tests_passed(*failed, *exit_code) {
                    self.failed_test_runs = 0;
                } else {
                    self.failed_test_runs += 1;
                    self.phase = Phase::Fixing {
                        cause: FixCause::TestsFailed {
                            failed: *failed,
                            exit_code: *exit_code,
                            output_tail: output_tail.clone(),
                        },
                    };
                }
            }
            Event::ReviewRequested { round, .. } => {
                self.round = *round;
                self.trio_reviews.clear();
                self.synthesis = None;
                self.junior_reviews.clear();
                self.phase = Phase::Reviewing {
                    stage: ReviewStage::Trio,
                };
            }
            Event::VerdictRecorded(VerdictRecorded {
                role,
                member,
                answer: Answer {
                    verdict, findings, ..
                },
                ..
            }) => {
                let review = Review {
                    member: member.clone(),
                    verdict: *verdict,
                    findings: findings.clone(),
                };
                match role {
                    Role::Junior => self.junior_reviews.push(review),
                    _ => {
                        self.trio_reviews.push(review);
                        if self.trio_reviews.len() >= self.policy.trio.len() {
                            self.phase = Phase::Reviewing {
                                stage: ReviewStage::Synthesis,
                            };
                        }
                    }
                }
            }
            Event::SynthesisRecorded(SynthesisRecorded {
                member,
                answer: Answer {
                    verdict, findings, ..
                },
                ..
            }) => {
                self.synthesis = Some(Review {
                    member: member.clone(),
                    verdict: *verdict,
                    findings: findings.clone(),
                });
                self.phase = Phase::Reviewing {
                    stage: ReviewStage::Juniors,
                };
            }
            Event::DecisionMade { decision, .. } => {
                self.last_decision = Some(*decision);
                match decision {
                    Decision::Promote => self.phase = Phase::Switching,
                    Decision::AwaitManualApproval => self.phase = Phase::AwaitingApproval,
                    Decision::FixesNeeded => {
                        self.phase = Phase::Fixing {
                            cause: FixCause::ReviewAsked {
                                round: self.round,
                                findings: self.review_findings(),
                            },
                        }
                    }
                    // The events that follow say how the deployment ends.
                    Decision::ReturnToDevelopment | Decision::Rollback => {}
                }
            }
            Event::ManuallyApproved(call) => {
                self.gate_reason = None;
                self.full |= call.full;
                // At a gate after the switch, the watch goes on; in a
                // canary, the step it held ends next (`step_completed`).
                self.phase = if self.switched {
                    Phase::KeepingBlue
                } else if self.in_canary() {
                    Phase::Stepping
                } else {
                    Phase::Switching
                };
            }
            Event::BlueKept { .. } => self.phase = Phase::StoppingBlue,
            // Recorded; a rollback it causes is an event of its own.
            Event::AlertReceived(_) => {}
            Event::AnalysisStarted(AnalysisStarted { name, phase, run }) => {
                self.analysis_runs = *run;
                let limits = self.policy.analyses.get(name).cloned().unwrap_or_default();
                let tally = RunTally::new(name, *phase, *run, &limits);
                // The background run goes beside the steps, not instead.
                if *phase == AnalysisPhase::Background {
                    self.background = Some(tally);
                } else {
                    self.phase = Phase::Analyzing(tally);
                }
            }
            Event::AnalysisMeasured(measured) => {
                // A template is a step's or the background's, never both
                // (checked at load), so its name says whose.
                match (&mut self.phase, &mut self.background) {
                    (_, Some(background)) if background.name == measured.name => {
                        background.add(measured)
                    }
                    (Phase::Analyzing(tally), _) => tally.add(measured),
                    _ => {}
                }
            }
            Event::AnalysisCompleted(AnalysisCompleted {
                phase,
                verdict,
                reason,
                ..
            }) => {
                match phase {
                    AnalysisPhase::PrePromotion => self.pre_promotion_done += 1,
                    AnalysisPhase::PostPromotion => self.post_promotion_done += 1,
                    AnalysisPhase::Canary => {}
                    AnalysisPhase::Background => {
                        self.background = None;
                        // Successful, it changes nothing; failed, the
                        // rollback that follows says where it goes.
                        if *verdict != RunVerdict::Inconclusive {
                            return;
                        }
                    }
                }
                match verdict {
                    // The step ends next (`step_completed`).
                    RunVerdict::Successful if *phase == AnalysisPhase::Canary => {
                        self.phase = Phase::Stepping
                    }
                    // The next template's start, if any, follows at once.
                    RunVerdict::Successful if self.switched => self.phase = Phase::KeepingBlue,
                    RunVerdict::Successful => self.phase = Phase::Switching,
                    RunVerdict::Inconclusive => {
                        self.gate_reason = Some(reason.clone());
                        self.phase = Phase::AwaitingApproval;
                    }
                    // The rollback that follows says where it goes.
                    RunVerdict::Failed => {}
                }
            }
            Event::ManuallyRejected(_) => {}
            Event::TrafficSwitched { .. } => {
                self.switched = true;
                // Green (or, back, blue) takes everything: no split is left.
                self.weight = None;
                match (&self.phase, &self.blue) {
                    (Phase::Restoring(_), _) => {
                        self.phase = Phase::Restoring(RestoreStage::Draining)
                    }
                    (_, Some(_)) => self.phase = Phase::DrainingBlue,
                    (_, None) => self.enter_reporting(Outcome::Promoted),
                }
            }
            Event::Drained(_) => match self.phase {
                Phase::Restoring(_) => self.phase = Phase::Restoring(RestoreStage::Stopping),
                _ => {
                    self.drained = true;
                    self.phase = if self.policy.keeps_blue() {
                        Phase::KeepingBlue
                    } else {
                        Phase::StoppingBlue
                    };
                }
            },
            Event::BlueStopped { .. } => {
                if !matches!(self.phase, Phase::Restoring(_)) {
                    self.blue_stopped = true;
                    self.enter_reporting(Outcome::Promoted);
                }
            }
            Event::GreenStopped { .. } => {
                if let Phase::StoppingGreen { ending } = self.phase {
                    self.enter_reporting(ending.outcome());
                }
            }
            Event::ReportWritten(ReportWritten { path, .. }) => {
                self.report_path = Some(path.clone());
                self.complete_step(Stage::Report);
            }
            Event::ReportCommitted(ReportCommitted { commit, pushed, .. }) => {
                self.report_commit = commit.clone();
                self.report_pushed = *pushed;
                self.complete_step(Stage::Commit);
            }
            Event::IssuesReferenced(IssuesReferenced { issues, .. }) => {
                self.issues_pending = issues.clone();
                self.complete_step(Stage::FindIssues);
            }
            Event::IssueClosed(IssueClosed { issue, outcome, .. }) => {
                self.issues_pending.retain(|i| i != issue);
                if *outcome == IssueOutcome::Closed {
                    self.issues_closed.push(*issue);
                }
                self.complete_step(Stage::CloseIssue);
            }
            Event::CompletionStepFailed { .. } => {
                if let Some(stage) = stage_of(&self.phase) {
                    if stage == Stage::CloseIssue && !self.issues_pending.is_empty() {
                        self.issues_pending.remove(0);
                    }
                    self.complete_step(stage);
                }
            }
            Event::IssuesClosed { .. } => {}
            Event::Completed { outcome } => {
                self.completions.push(*outcome);
                self.phase = Phase::Done(*outcome);
            }
            Event::RollbackStarted {
                after_promotion,
                to_release,
                ..
            } => {
                self.background = None;
                // Blue still running (kept after the switch): traffic goes
                // back to it at once, nothing to start.
                let kept = self
                    .blue
                    .as_ref()
                    .filter(|_| self.switched && !self.blue_stopped)
                    .filter(|blue| to_release.as_deref() == Some(blue.release.as_str()));
                if let (true, Some(blue)) = (*after_promotion, kept) {
                    self.restore = Some((blue.release.clone(), blue.slot));
                    self.restore_endpoint = Some(blue.endpoint.clone());
                    self.phase = Phase::Restoring(RestoreStage::Switching);
                } else if *after_promotion {
                    let release = to_release.clone().unwrap_or_default();
                    self.restore = Some((release, self.green_slot.other()));
                    self.restore_endpoint = None;
                    self.phase = Phase::Restoring(RestoreStage::Starting);
                } else {
                    self.phase = Phase::StoppingGreen {
                        ending: Ending::RolledBack,
                    };
                }
            }
            Event::RollbackCompleted { .. } => {
                // A rollback after promotion is reported as well.
                if matches!(self.phase, Phase::Restoring(_)) {
                    self.enter_reporting(Outcome::RolledBack);
                }
            }
            Event::RollbackFailed { .. } => {
                // Back where it was before the rollback was asked for.
                self.restore = None;
                let outcome = self.completions.last().copied();
                self.phase = Phase::Done(outcome.unwrap_or(Outcome::Promoted));
            }
            Event::ReturnedToDevelopment { .. } => {
                self.phase = Phase::StoppingGreen {
                    ending: Ending::Returned,
                }
            }
            Event::Aborted(_) => {
                self.phase = Phase::StoppingGreen {
                    ending: Ending::Aborted,
                }
            }
            Event::WeightSet { percent } => match (&self.phase, &mut self.canary) {
                // On the way out: every request is back on blue.
                (Phase::StoppingGreen { .. }, Some(canary)) => {
                    canary.withdrawn = true;
                    self.weight = None;
                }
                _ => self.weight = Some(*percent),
            },
            Event::StepStarted { index, step } => {
                self.canary = Some(CanaryAt {
                    index: *index,
                    step: step.clone(),
                    completed: false,
                    withdrawn: false,
                });
                self.phase = match step {
                    RolloutStep::Pause(_) => {
                        self.gate_reason = Some(format!(
                            "manual pause at step {} of {}",
                            index + 1,
                            self.policy.steps.len()
                        ));
                        Phase::AwaitingApproval
                    }
                    // An analysis step's run starts with it (`decide`).
                    _ => Phase::Stepping,
                };
            }
            Event::StepCompleted { index, .. } => {
                if let Some(canary) = &mut self.canary {
                    canary.completed = true;
                }
                let last = *index as usize + 1 >= self.policy.steps.len();
                // The next step starts at once (`decide`), or the switch.
                self.phase = if last || self.full {
                    Phase::Switching
                } else {
                    Phase::Stepping
                };
            }
            Event::Failed { .. } => match self.phase {
                // The restore's own events say where it goes.
                Phase::Restoring(_) | Phase::Done(_) => {}
                // Green serves, or could not be stopped: nothing more to stop.
                Phase::StoppingGreen { .. } => self.enter_reporting(Outcome::Failed),
                _ if self.switched => self.enter_reporting(Outcome::Failed),
                _ => {
                    self.phase = Phase::StoppingGreen {
                        ending: Ending::Failed,
                    }
                }
            },
        }
    }
}
