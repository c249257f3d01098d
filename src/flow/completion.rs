//! Phase 5's side effects once the instances are settled: the report, its
//! commit, and for a promotion the issues its commits name. The report is
//! always written; the commit and the forge only when the policy asks. None
//! of them changes how the deployment ends: a step that fails is recorded
//! and the next one runs, so a promotion stays a promotion.

use super::phase::{Stage, ending, next_completion_phase};
use super::state::Deployment;
use crate::events::{Event, Outcome};

/// The events that end the completion once `state` (with the step's result
/// applied) has nothing left to do.
pub fn closing_events(state: &Deployment, done: Stage) -> Vec<Event> {
    if next_completion_phase(&state.phase, done, state.completion_needs()).is_some() {
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
