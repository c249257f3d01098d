//! What reviewers see: the code, the requirements, the last test run and
//! the fix attempts so far.

use super::super::context::Context;
use super::test_runs::last_test_run;
use crate::adapters::review::{Answer, FixRecord, ReviewBundle};
use crate::events::Event;
use crate::events::payloads::FixAttempted;
use crate::flow::Deployment;

/// Lines of a fix attempt's diagnosis a reviewer is shown.
const FIX_DIAGNOSIS_LINES: usize = 12;

/// The deployment's fix attempts, from its stream.
fn fix_history(ctx: &Context) -> Vec<FixRecord> {
    let Ok(envelopes) = ctx.services.store.read_stream(ctx.id, 0) else {
        return Vec::new();
    };
    envelopes
        .into_iter()
        .filter_map(|envelope| match envelope.event {
            Event::FixAttempted(FixAttempted {
                tier,
                attempt,
                diagnosis,
                action,
                outcome,
                ..
            }) => Some(FixRecord {
                tier,
                attempt,
                diagnosis: diagnosis
                    .lines()
                    .take(FIX_DIAGNOSIS_LINES)
                    .collect::<Vec<_>>()
                    .join("\n"),
                action,
                outcome,
            }),
            _ => None,
        })
        .collect()
}

/// What reviewers see: the code, the requirements, the test run, the fixes.
pub fn bundle(ctx: &Context, state: &Deployment, synthesis: Option<Answer>) -> ReviewBundle {
    ReviewBundle {
        app: ctx.app.clone(),
        release: ctx.release.clone(),
        round: state.round,
        code_dir: ctx.paths.code.clone(),
        requirements_path: ctx.paths.requirements.clone(),
        requirements: std::fs::read_to_string(&ctx.paths.requirements).unwrap_or_default(),
        tests_command: ctx.config.inputs.tests.clone(),
        test_run: last_test_run(ctx, state),
        synthesis,
        fix_history: fix_history(ctx),
    }
}
