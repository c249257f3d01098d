//! Scrubbing secret values out of an effect's result before it becomes an
//! event: an app may print its own secrets into the logs a diagnosis quotes.
//! Every input is named below, with no catch-all arm, and every payload it
//! carries scrubs itself through `Redact` (which destructures it whole): a
//! new kind of result, or a new field, does not compile until someone
//! decides what of it is scrubbed. Text from outside (logs, answers,
//! people's words, the forge's messages) is; addresses, paths, hashes and
//! counts deployflow made itself are kept exact, since a short secret value
//! could match inside one.

use crate::adapters::secrets::Redactor;
use crate::events::MissingInput;
use crate::events::payloads::Redact;
use crate::flow::Input;

/// The one way an effect's result reaches `decide`: the workers' results
/// all pass through here (see `actors::workers`).
pub fn redact(input: Input, redactor: &Redactor) -> Input {
    input.redact(&|text| redactor.redact(text))
}

impl Redact for Input {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        match self {
            Input::InputsChecked { checked, missing } => Input::InputsChecked {
                checked: checked.iter().map(|item| scrub(item)).collect(),
                missing: missing
                    .into_iter()
                    .map(|MissingInput { item, reason }| MissingInput {
                        item,
                        reason: scrub(&reason),
                    })
                    .collect(),
            },
            Input::InstanceStarted(started) => Input::InstanceStarted(started.redact(scrub)),
            Input::InstanceFailed { diagnosis } => Input::InstanceFailed {
                diagnosis: scrub(&diagnosis),
            },
            Input::Healthy(healthy) => Input::Healthy(healthy.redact(scrub)),
            Input::Unhealthy(unhealthy) => Input::Unhealthy(unhealthy.redact(scrub)),
            Input::FixDone(fix) => Input::FixDone(fix.redact(scrub)),
            Input::TestsRan(run) => Input::TestsRan(run.redact(scrub)),
            Input::Verdict(answer) => Input::Verdict(answer.redact(scrub)),
            Input::Synthesis(answer) => Input::Synthesis(answer.redact(scrub)),
            Input::Drained(drained) => Input::Drained(drained.redact(scrub)),
            Input::ReportWritten(report) => Input::ReportWritten(report.redact(scrub)),
            Input::ReportCommitted(commit) => Input::ReportCommitted(commit.redact(scrub)),
            Input::IssuesFound(found) => Input::IssuesFound(found.redact(scrub)),
            Input::IssueHandled(handled) => Input::IssueHandled(handled.redact(scrub)),
            Input::Approve(call) => Input::Approve(call.redact(scrub)),
            Input::Reject(call) => Input::Reject(call.redact(scrub)),
            Input::Abort(call) => Input::Abort(call.redact(scrub)),
            Input::Alert(alert) => Input::Alert(alert.redact(scrub)),
            Input::Measured(measurements) => Input::Measured(
                measurements
                    .into_iter()
                    .map(|measured| measured.redact(scrub))
                    .collect(),
            ),
            Input::BackgroundMeasured(measurements) => Input::BackgroundMeasured(
                measurements
                    .into_iter()
                    .map(|measured| measured.redact(scrub))
                    .collect(),
            ),
            Input::Rollback {
                by,
                reason,
                to_release,
            } => Input::Rollback {
                by: scrub(&by),
                reason: scrub(&reason),
                to_release,
            },
            Input::EffectFailed { reason } => Input::EffectFailed {
                reason: scrub(&reason),
            },
            // Facts without words.
            kept @ (Input::Switched
            | Input::InstanceStopped
            | Input::BlueKept { .. }
            | Input::WeightSet { .. }
            | Input::Paused { .. }) => kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::payloads::{
        Answer, FixAttempted, GreenUnhealthy, Intervention, IssueClosed, ReportCommitted,
        SynthesisRecorded, TestRunCompleted, VerdictRecorded,
    };
    use crate::events::{Finding, FixOutcome, IssueOutcome, Patch, Role, Severity, Slot, Tier};

    const SECRET: &str = "hunter2-value";

    fn quoting() -> String {
        format!("the app printed token={SECRET} and died")
    }

    fn answer() -> Answer {
        Answer {
            model: "m".into(),
            verdict: crate::events::Verdict::FixesNeeded,
            summary: quoting(),
            findings: vec![Finding {
                severity: Severity::High,
                requirement: Some(quoting()),
                file: Some(quoting()),
                line: Some(3),
                message: quoting(),
            }],
            usage: None,
        }
    }

    fn call() -> Intervention {
        Intervention::by(quoting(), quoting())
    }

    /// Every kind of result that carries words from outside, each word
    /// field quoting the secret: none of it survives into what is recorded.
    #[test]
    fn no_result_that_quotes_a_secret_keeps_it() {
        let inputs = vec![
            Input::InputsChecked {
                checked: vec![quoting()],
                missing: vec![MissingInput {
                    item: "requirements".into(),
                    reason: quoting(),
                }],
            },
            Input::InstanceFailed {
                diagnosis: quoting(),
            },
            Input::Unhealthy(GreenUnhealthy {
                slot: Slot::Green,
                checks: 1,
                elapsed_ms: 1,
                diagnosis: quoting(),
            }),
            Input::FixDone(FixAttempted {
                tier: Tier::Senior,
                attempt: 1,
                diagnosis: quoting(),
                action: quoting(),
                outcome: FixOutcome::Applied,
                patches: vec![Patch {
                    member: "senior".into(),
                    applied: true,
                    diff: quoting(),
                }],
            }),
            Input::TestsRan(TestRunCompleted {
                passed: 0,
                failed: 1,
                skipped: 0,
                duration_ms: 1,
                exit_code: Some(1),
                output_tail: quoting(),
            }),
            Input::Verdict(VerdictRecorded {
                round: 1,
                role: Role::Trio,
                member: "a".into(),
                answer: answer(),
            }),
            Input::Synthesis(SynthesisRecorded {
                round: 1,
                member: "senior".into(),
                answer: answer(),
            }),
            Input::ReportCommitted(ReportCommitted {
                notes: vec![quoting()],
                ..ReportCommitted::default()
            }),
            Input::IssueHandled(IssueClosed {
                issue: 7,
                outcome: IssueOutcome::Failed,
                detail: quoting(),
            }),
            Input::Approve(call()),
            Input::Reject(call()),
            Input::Abort(call()),
            Input::Rollback {
                by: quoting(),
                reason: quoting(),
                to_release: None,
            },
            Input::EffectFailed { reason: quoting() },
        ];
        let redactor = Redactor::of("TOKEN", SECRET);
        for input in inputs {
            let before = serde_json::to_string(&input).expect("serialize");
            assert!(before.contains(SECRET), "the case quotes it: {before}");
            let after = serde_json::to_string(&redact(input, &redactor)).expect("serialize");
            assert!(!after.contains(SECRET), "kept: {after}");
            assert!(after.contains("[secret TOKEN]"), "{after}");
        }
    }
}
