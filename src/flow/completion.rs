//! Phase 5's side effects once the instances are settled: the report, its
//! commit, and for a promotion the issues its commits name. The report is
//! always written; the commit and the forge only when the policy asks. None
//! of them changes how the deployment ends: a step that fails is recorded
//! and the next one runs, so a promotion stays a promotion.

use super::state::{Deployment, Phase};
use crate::events::{Event, Outcome};

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

/// The phase after `done`, or `None` when the completion is over. Issues
/// are closed one at a time: the phase stays while any is pending.
pub fn next_phase(state: &Deployment, done: Stage) -> Option<Phase> {
    let ending = ending(&state.phase);
    let forge = ending == Outcome::Promoted && state.policy.forge;
    let wanted = |stage: Stage| match stage {
        Stage::Report => false,
        Stage::Commit => state.policy.commit && state.report_path.is_some(),
        Stage::FindIssues => forge,
        Stage::CloseIssue => forge && !state.issues_pending.is_empty(),
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

/// The events that end the completion once `state` (with the step's result
/// applied) has nothing left to do.
pub fn closing_events(state: &Deployment, done: Stage) -> Vec<Event> {
    if next_phase(state, done).is_some() {
        return Vec::new();
    }
    let ending = ending(&state.phase);
    let mut events = Vec::new();
    if ending == Outcome::Promoted && state.policy.forge {
        events.push(Event::IssuesClosed {
            issues: state.issues_closed.clone(),
        });
    }
    events.push(Event::Completed { outcome: ending });
    events
}
