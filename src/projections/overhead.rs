//! Where a deployment's time went, from its event timestamps: the app's
//! (start, health wait, drain, shutdown), the tests', the reviewers', the
//! people's at the gate, deliberate back-offs, the analyses' windows; and
//! what is left, deployflow's own overhead.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Envelope, Event};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timing {
    pub total_ms: i64,
    /// From each start of green (the backend starting it: a process spawned,
    /// an image built and a container created) to its health verdict.
    pub app_start_ms: i64,
    pub tests_ms: i64,
    pub reviews_ms: i64,
    /// Blue's requests finishing, then blue (or green) shutting down.
    pub drain_and_stop_ms: i64,
    /// Driver-tier remedies (stopping green, backing off) and fixers.
    pub fixes_ms: i64,
    /// Waiting at the manual gate.
    pub gate_ms: i64,
    /// Analysis windows (the load in them included) and blue kept after
    /// the switch.
    pub analysis_ms: i64,
    /// What is left: deployflow's own time.
    pub overhead_ms: i64,
}

pub fn timing(events: &[Envelope]) -> Timing {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Timing::default();
    };
    let mut t = Timing {
        total_ms: ms(first.recorded_at, last.recorded_at),
        ..Timing::default()
    };
    // Each event closes the span since the one before it; the kind says
    // whose time that span was. Spans left unclaimed are deployflow's.
    let mut previous = first.recorded_at;
    let mut stopping = false;
    for envelope in events {
        let span = ms(previous, envelope.recorded_at);
        previous = envelope.recorded_at;
        match &envelope.event {
            Event::GreenStarted(_) | Event::GreenHealthy(_) | Event::GreenUnhealthy(_) => {
                t.app_start_ms += span
            }
            Event::TestRunCompleted(_) => t.tests_ms += span,
            Event::VerdictRecorded(_) | Event::SynthesisRecorded(_) => t.reviews_ms += span,
            Event::ManuallyApproved(_) | Event::ManuallyRejected(_) => t.gate_ms += span,
            Event::FixAttempted(_) => t.fixes_ms += span,
            Event::AnalysisMeasured(_) | Event::BlueKept { .. } => t.analysis_ms += span,
            Event::Drained(_) | Event::BlueStopped { .. } | Event::RollbackCompleted { .. } => {
                t.drain_and_stop_ms += span
            }
            Event::Completed { .. } if stopping => t.drain_and_stop_ms += span,
            _ => {}
        }
        // Green is stopped between these and the `Completed` that follows.
        stopping = matches!(
            envelope.event,
            Event::Aborted(_) | Event::ReturnedToDevelopment { .. } | Event::Failed { .. }
        );
    }
    t.overhead_ms = t.total_ms
        - t.app_start_ms
        - t.tests_ms
        - t.reviews_ms
        - t.drain_and_stop_ms
        - t.fixes_ms
        - t.gate_ms
        - t.analysis_ms;
    t
}

fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::samples::timed_deployment;

    #[test]
    fn the_apps_tests_and_reviewers_time_is_not_deployflows() {
        let events = timed_deployment();
        let t = timing(&events);
        assert_eq!(t.total_ms, 1400);
        assert_eq!(t.app_start_ms, 103);
        assert_eq!(t.tests_ms, 200);
        assert_eq!(t.reviews_ms, 30);
        assert_eq!(t.drain_and_stop_ms, 1050);
        assert_eq!(t.overhead_ms, 17);
    }
}
