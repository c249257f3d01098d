//! Which events a webhook is told about, and in what words: pure, from one
//! event of a deployment (its app and release known).

use crate::config::NotifyKind;
use crate::events::{Decision, Event, Outcome, RunVerdict};

/// A notification, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotifyKind,
    /// One line for people (Slack's `text`).
    pub text: String,
}

/// The notification `event` makes, if any.
pub fn of(app: &str, release: &str, id: &str, event: &Event) -> Option<Notification> {
    let (kind, what) = match event {
        Event::Completed { outcome } => {
            let kind = match outcome {
                Outcome::Promoted => NotifyKind::Promoted,
                Outcome::RolledBack => NotifyKind::RolledBack,
                Outcome::Returned => NotifyKind::Returned,
                Outcome::Rejected => NotifyKind::Rejected,
                Outcome::Failed => NotifyKind::Failed,
                Outcome::Aborted => NotifyKind::Aborted,
            };
            (kind, outcome.name().replace('_', " "))
        }
        Event::AnalysisCompleted(done) => match done.verdict {
            RunVerdict::Failed => (
                NotifyKind::AnalysisFailed,
                format!("analysis `{}` failed: {}", done.name, done.reason),
            ),
            RunVerdict::Inconclusive => (
                NotifyKind::AnalysisInconclusive,
                format!(
                    "analysis `{}` inconclusive, waiting at the manual gate: {}",
                    done.name, done.reason
                ),
            ),
            RunVerdict::Successful => return None,
        },
        Event::DecisionMade {
            decision: Decision::AwaitManualApproval,
            rule,
            ..
        } => (
            NotifyKind::ManualGate,
            format!("waiting at the manual gate: {rule}"),
        ),
        Event::AlertReceived(alert) => (
            NotifyKind::Alert,
            format!("alert {}: {}", alert.status, alert.names()),
        ),
        _ => return None,
    };
    Some(Notification {
        kind,
        text: format!("{app} {release}: {what} (deployment {id})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use crate::events::samples::sample;
    use strum::IntoEnumIterator;

    #[test]
    fn endings_analyses_gates_and_alerts_notify_and_nothing_else_does() {
        let told: Vec<EventKind> = EventKind::iter()
            .filter(|kind| of("hello", "v2", "id", &sample(*kind)).is_some())
            .collect();
        let may = [
            EventKind::DecisionMade,
            EventKind::Completed,
            EventKind::AnalysisCompleted,
            EventKind::AlertReceived,
        ];
        assert!(told.iter().all(|kind| may.contains(kind)), "{told:?}");
        for kind in [
            EventKind::Completed,
            EventKind::AnalysisCompleted,
            EventKind::AlertReceived,
        ] {
            assert!(told.contains(&kind), "{kind:?} is not told: {told:?}");
        }
        let completed = of(
            "hello",
            "v2",
            "0191",
            &Event::Completed {
                outcome: Outcome::RolledBack,
            },
        );
        assert_eq!(
            completed,
            Some(Notification {
                kind: NotifyKind::RolledBack,
                text: "hello v2: rolled back (deployment 0191)".into()
            })
        );
    }
}
