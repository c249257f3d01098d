//! A tier's fixers asked in turn: the Senior tier has one (the Senior),
//! the Trio tier three. Members change the same directory, so they go one
//! after another, in the configured order, until one's fix applies; what
//! every one of them did or proposed is recorded.

use super::{FixRequest, Fixer};
use crate::events::FixOutcome;
use crate::events::payloads::FixAttempted;

/// A member's fixer, or why it has none (a built-in reviewer, a command
/// member without `fix_command`, a missing API key).
pub type Seat = Result<Box<dyn Fixer>, String>;

pub struct TierFixers {
    /// Member names and their seats, in the configured order.
    pub seats: Vec<(String, Seat)>,
}

impl TierFixers {
    /// Applied as soon as one member's fix applies; not applied when some
    /// tried and none applied; given up (the loop escalates) when no member
    /// can fix at all.
    pub async fn fix(&self, request: &FixRequest) -> FixAttempted {
        let attempted = |notes: Vec<String>, outcome, patches| FixAttempted {
            tier: request.tier,
            attempt: request.attempt,
            diagnosis: request.diagnosis.clone(),
            action: notes.join("; "),
            outcome,
            patches,
        };
        let mut notes = Vec::new();
        let mut patches = Vec::new();
        let mut tried = false;
        for (name, seat) in &self.seats {
            let fixer = match seat {
                Ok(fixer) => fixer,
                Err(why) => {
                    notes.push(format!("{name} cannot fix: {why}"));
                    continue;
                }
            };
            tried = true;
            let report = fixer.fix(request).await;
            patches.extend(report.patches);
            notes.push(format!("{name}: {}", report.action));
            if report.outcome == FixOutcome::Applied {
                return attempted(notes, FixOutcome::Applied, patches);
            }
        }
        let outcome = if tried {
            FixOutcome::NotApplied
        } else {
            notes.insert(0, format!("no fixer at the {} tier", request.tier.name()));
            FixOutcome::GaveUp
        };
        attempted(notes, outcome, patches)
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::adapters::fixers::FixReport;
    use crate::events::{Patch, Tier};

    struct Scripted(FixOutcome);

    #[async_trait]
    impl Fixer for Scripted {
        async fn fix(&self, _request: &FixRequest) -> FixReport {
            FixReport {
                action: format!("{:?}", self.0),
                outcome: self.0,
                patches: vec![Patch {
                    member: "m".into(),
                    applied: self.0 == FixOutcome::Applied,
                    diff: "--- a/x\n+++ b/x\n".into(),
                }],
            }
        }
    }

    fn request() -> FixRequest {
        FixRequest {
            app: "hello".into(),
            release: "v2".into(),
            tier: Tier::Trio,
            attempt: 1,
            diagnosis: "tests failed".into(),
            code_dir: ".".into(),
            requirements: String::new(),
        }
    }

    fn seat(name: &str, outcome: Option<FixOutcome>) -> (String, Seat) {
        let fixer: Seat = match outcome {
            Some(outcome) => Ok(Box::new(Scripted(outcome))),
            None => Err("a built-in reviewer".into()),
        };
        (name.to_string(), fixer)
    }

    #[tokio::test]
    async fn members_go_in_turn_until_one_fix_applies() {
        let tier = TierFixers {
            seats: vec![
                seat("tests", None),
                seat("gpt", Some(FixOutcome::NotApplied)),
                seat("claude", Some(FixOutcome::Applied)),
                seat("llama", Some(FixOutcome::Applied)),
            ],
        };
        let report = tier.fix(&request()).await;
        assert_eq!(report.outcome, FixOutcome::Applied);
        assert_eq!(report.patches.len(), 2, "gpt's and claude's, not llama's");
        assert!(
            report
                .action
                .starts_with("tests cannot fix: a built-in reviewer; gpt: ")
        );
    }

    #[tokio::test]
    async fn none_applied_is_not_applied_and_no_fixer_at_all_gives_up() {
        let failing = TierFixers {
            seats: vec![seat("gpt", Some(FixOutcome::NotApplied))],
        };
        assert_eq!(
            failing.fix(&request()).await.outcome,
            FixOutcome::NotApplied
        );
        let none = TierFixers {
            seats: vec![seat("tests", None), seat("hygiene", None)],
        };
        let report = none.fix(&request()).await;
        assert_eq!(report.outcome, FixOutcome::GaveUp);
        assert!(report.action.starts_with("no fixer at the trio tier"));
    }
}
