//! The phases a deployment goes through, why a fix is next, and how the
//! completion's steps follow each other: the facts `apply` moves between,
//! in a leaf file (the state, the fix loop and the completion read them).

use serde::{Deserialize, Serialize};

use super::analysis::RunTally;
use crate::events::{Finding, Outcome};

/// Where a deployment is. Each phase has exactly one thing to do next
/// (`step::next_step`); the event that ends it moves to the next phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Requested; its inputs are not checked yet.
    Validating,
    /// Green is to be started (again) for `attempt`.
    StartingGreen,
    /// Green runs; waiting for its health check.
    AwaitingHealth,
    /// Something is wrong with green; a fix at the current tier is next.
    Fixing {
        cause: FixCause,
    },
    Testing,
    /// The Trio reviews, then the Senior synthesizes, then the Juniors.
    Reviewing {
        stage: ReviewStage,
    },
    AwaitingApproval,
    /// An analysis template runs on green before the switch (or, later,
    /// after it): the run's tally so far.
    Analyzing(RunTally),
    /// A canary's current step is under way (a weight to set, a pause to
    /// hold); `Deployment::canary` says which.
    Stepping,
    Switching,
    /// Traffic is on green; blue's in-flight requests finish.
    DrainingBlue,
    /// Traffic is on green and blue has drained; blue keeps running, not
    /// serving, through the post-promotion analyses and the scale-down
    /// delay, so traffic can go back to it at once.
    KeepingBlue,
    StoppingBlue,
    /// The instances are settled; the report of how it `ending`s is next.
    Reporting {
        ending: Outcome,
    },
    /// The report is committed to the code directory's repository.
    CommittingReport {
        ending: Outcome,
    },
    /// A promotion: the issues its commits name are looked up.
    FindingIssues,
    /// A promotion: the first of `issues_pending` is closed on the forge.
    ClosingIssues,
    /// Green is being stopped because the deployment ends without it.
    StoppingGreen {
        ending: Ending,
    },
    /// After promotion: the retained release is started again in the idle slot.
    Restoring(RestoreStage),
    Done(Outcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStage {
    Trio,
    Synthesis,
    Juniors,
}

/// Why green is being stopped, which decides how the deployment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    RolledBack,
    Returned,
    Aborted,
    Failed,
}

impl Ending {
    /// How a deployment that ends this way is recorded.
    pub fn outcome(self) -> Outcome {
        match self {
            Ending::RolledBack => Outcome::RolledBack,
            Ending::Returned => Outcome::Returned,
            Ending::Aborted => Outcome::Aborted,
            Ending::Failed => Outcome::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreStage {
    Starting,
    AwaitingHealth,
    /// It never became healthy: stop it, traffic stays where it is.
    Abandoning,
    Switching,
    Draining,
    Stopping,
}

/// Why a fix is next: the facts, put into the fixers' words by
/// `fix_loop::diagnosis` when the fix is asked for and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixCause {
    /// Green did not start or come up healthy, as diagnosed then.
    Unhealthy { diagnosis: String },
    /// The tests failed against green.
    TestsFailed {
        failed: u32,
        exit_code: Option<i32>,
        output_tail: String,
    },
    /// Review round `round` asked for fixes, with the synthesis' and the
    /// Juniors' findings, each once.
    ReviewAsked { round: u32, findings: Vec<Finding> },
}

/// The completion's steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Report,
    Commit,
    FindIssues,
    CloseIssue,
}

/// The step `phase` is at, if it is one of the completion's.
pub fn stage_of(phase: &Phase) -> Option<Stage> {
    match phase {
        Phase::Reporting { .. } => Some(Stage::Report),
        Phase::CommittingReport { .. } => Some(Stage::Commit),
        Phase::FindingIssues => Some(Stage::FindIssues),
        Phase::ClosingIssues => Some(Stage::CloseIssue),
        _ => None,
    }
}

/// How the deployment in its completion ends. Only a promotion goes on to
/// the forge, so those phases carry no ending of their own.
pub fn ending(phase: &Phase) -> Outcome {
    match phase {
        Phase::Reporting { ending } | Phase::CommittingReport { ending } => *ending,
        _ => Outcome::Promoted,
    }
}

/// What the completion's remaining steps depend on, read off the state.
#[derive(Debug, Clone, Copy)]
pub struct CompletionNeeds {
    /// A forge is configured (issues are closed for a promotion).
    pub forge: bool,
    /// The policy commits the report.
    pub commit: bool,
    pub report_written: bool,
    pub issues_pending: bool,
}

/// The phase after `done`, or `None` when the completion is over. Issues
/// are closed one at a time: the phase stays while any is pending.
pub fn next_completion_phase(phase: &Phase, done: Stage, needs: CompletionNeeds) -> Option<Phase> {
    let ending = ending(phase);
    let forge = ending == Outcome::Promoted && needs.forge;
    let wanted = |stage: Stage| match stage {
        Stage::Report => false,
        Stage::Commit => needs.commit && needs.report_written,
        Stage::FindIssues => forge,
        Stage::CloseIssue => forge && needs.issues_pending,
    };
    let next = if done == Stage::CloseIssue && wanted(Stage::CloseIssue) {
        Stage::CloseIssue
    } else {
        [Stage::Commit, Stage::FindIssues, Stage::CloseIssue]
            .into_iter()
            .find(|stage| *stage > done && wanted(*stage))?
    };
    Some(match next {
        Stage::Report => Phase::Reporting { ending },
        Stage::Commit => Phase::CommittingReport { ending },
        Stage::FindIssues => Phase::FindingIssues,
        Stage::CloseIssue => Phase::ClosingIssues,
    })
}
