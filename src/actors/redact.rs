//! Scrubbing secret values out of an effect's result before it becomes an
//! event: an app may print its own secrets into the logs a diagnosis quotes.

use crate::adapters::secrets::Redactor;
use crate::events::{Finding, Patch};
use crate::flow::Input;

pub fn redact(input: Input, redactor: &Redactor) -> Input {
    let r = |text: String| redactor.redact(&text);
    let findings = |list: Vec<Finding>| {
        list.into_iter()
            .map(|f| Finding {
                message: redactor.redact(&f.message),
                ..f
            })
            .collect()
    };
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
        Input::TestsRan {
            passed,
            failed,
            skipped,
            duration_ms,
            exit_code,
            output_tail,
        } => Input::TestsRan {
            passed,
            failed,
            skipped,
            duration_ms,
            exit_code,
            output_tail: r(output_tail),
        },
        Input::Verdict {
            role,
            member,
            model,
            verdict,
            summary,
            findings: list,
            usage,
        } => Input::Verdict {
            role,
            member,
            model,
            verdict,
            summary: r(summary),
            findings: findings(list),
            usage,
        },
        Input::Synthesis {
            member,
            model,
            verdict,
            summary,
            findings: list,
            usage,
        } => Input::Synthesis {
            member,
            model,
            verdict,
            summary: r(summary),
            findings: findings(list),
            usage,
        },
        Input::EffectFailed { reason } => Input::EffectFailed { reason: r(reason) },
        other => other,
    }
}
