//! A deployment's phases in order, each with when it began and how long it
//! lasted, from its events: the dashboard's timeline. The same stage names
//! as `history` (prepare, fix, test, review, manual_gate, completion,
//! rollback), folded by the flow's own state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::Envelope;
use crate::flow::Deployment;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseSpan {
    pub phase: &'static str,
    pub started_at: DateTime<Utc>,
    /// Until the next phase began, or until the last event for the phase
    /// still going on.
    pub duration_ms: i64,
    /// Still the deployment's phase.
    pub current: bool,
}

pub fn spans(events: &[Envelope]) -> Vec<PhaseSpan> {
    let mut state = Deployment::empty();
    let mut spans: Vec<PhaseSpan> = Vec::new();
    for envelope in events {
        state.apply(&envelope.event);
        let phase = state.stage();
        let at = envelope.recorded_at;
        if let Some(last) = spans.last_mut() {
            last.duration_ms = (at - last.started_at).num_milliseconds().max(0);
            if last.phase == phase {
                continue;
            }
            last.current = false;
        }
        if phase != "done" {
            spans.push(PhaseSpan {
                phase,
                started_at: at,
                duration_ms: 0,
                current: true,
            });
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::samples::timed_deployment;

    #[test]
    fn phases_follow_each_other_and_their_durations_add_up() {
        let events = timed_deployment();
        let spans = spans(&events);
        let names: Vec<&str> = spans.iter().map(|s| s.phase).collect();
        // The sample decision asks for fixes: the loop goes back to fixing.
        assert_eq!(names, ["prepare", "test", "review", "fix", "completion"]);
        assert_eq!(spans[0].duration_ms, 108);
        assert_eq!(spans[1].duration_ms, 201);
        for pair in spans.windows(2) {
            assert_eq!(
                pair[0].started_at + chrono::Duration::milliseconds(pair[0].duration_ms),
                pair[1].started_at
            );
        }
        let total: i64 = spans.iter().map(|s| s.duration_ms).sum();
        assert_eq!(total, 1400);
        assert!(spans.iter().all(|s| !s.current), "a finished deployment");

        let going_on = self::spans(&events[..8]);
        assert!(going_on.last().unwrap().current);
        assert_eq!(going_on.last().unwrap().phase, "review");
    }
}
