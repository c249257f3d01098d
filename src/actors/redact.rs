//! Scrubbing secret values out of an effect's result before it becomes an
//! event: an app may print its own secrets into the logs a diagnosis quotes.
//! Every input is named below, with no catch-all arm: a new kind of result
//! does not compile until someone decides what of it is scrubbed. Text from
//! outside (logs, answers, people's words, the forge's messages) is;
//! addresses, paths, hashes and counts deployflow made itself are kept
//! exact, since a short secret value could match inside one.

use crate::adapters::secrets::Redactor;
use crate::events::payloads::Redact;
use crate::events::{MissingInput, Patch};
use crate::flow::Input;

pub fn redact(input: Input, redactor: &Redactor) -> Input {
    let r = |text: String| redactor.redact(&text);
    match input {
        Input::InstanceFailed { diagnosis } => Input::InstanceFailed {
            diagnosis: r(diagnosis),
        },
        Input::Health {
            healthy,
            checks,
            elapsed_ms,
            diagnosis,
        } => Input::Health {
            healthy,
            checks,
            elapsed_ms,
            diagnosis: r(diagnosis),
        },
        Input::FixDone {
            action,
            outcome,
            patches,
        } => Input::FixDone {
            action: r(action),
            outcome,
            patches: patches
                .into_iter()
                .map(|patch| Patch {
                    diff: redactor.redact(&patch.diff),
                    ..patch
                })
                .collect(),
        },
        Input::TestsRan(run) => Input::TestsRan(run.redact(&|text| redactor.redact(text))),
        Input::Verdict(answer) => Input::Verdict(answer.redact(&|text| redactor.redact(text))),
        Input::Synthesis(answer) => Input::Synthesis(answer.redact(&|text| redactor.redact(text))),
        Input::EffectFailed { reason } => Input::EffectFailed { reason: r(reason) },
        Input::InputsChecked { checked, missing } => Input::InputsChecked {
            checked: checked.into_iter().map(r).collect(),
            missing: missing
                .into_iter()
                .map(|m| MissingInput {
                    item: m.item,
                    reason: r(m.reason),
                })
                .collect(),
        },
        Input::ReportCommitted {
            commit,
            branch,
            pushed,
            notes,
        } => Input::ReportCommitted {
            commit,
            branch,
            pushed,
            notes: notes.into_iter().map(r).collect(),
        },
        Input::IssueHandled {
            issue,
            outcome,
            detail,
        } => Input::IssueHandled {
            issue,
            outcome,
            detail: r(detail),
        },
        Input::Approve { by, reason } => Input::Approve {
            by: r(by),
            reason: r(reason),
        },
        Input::Reject { by, reason } => Input::Reject {
            by: r(by),
            reason: r(reason),
        },
        Input::Abort { by, reason } => Input::Abort {
            by: r(by),
            reason: r(reason),
        },
        Input::Rollback {
            by,
            reason,
            to_release,
        } => Input::Rollback {
            by: r(by),
            reason: r(reason),
            to_release,
        },
        // Made by deployflow: addresses, names, paths, hashes, numbers.
        kept @ (Input::InstanceStarted { .. }
        | Input::Switched
        | Input::Drained { .. }
        | Input::InstanceStopped
        | Input::ReportWritten { .. }
        | Input::IssuesFound { .. }) => kept,
    }
}
