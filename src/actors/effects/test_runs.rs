//! The test loop's runs: the release's tests against green, their output
//! redacted, kept per run, and the last one shown to reviewers.

use std::path::PathBuf;
use std::time::Duration;

use super::super::context::Context;
use crate::adapters::test_runner::{TestRun, TestSpec, run_tests};
use crate::events::payloads::TestRunCompleted;
use crate::flow::{Deployment, Input};

/// How long a test run may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(ctx: &Context, state: &Deployment, command: &str, target_url: &str) -> Input {
    let runs = state.tests.as_ref().map_or(0, |_| 1) + state.fixes.total();
    let spec = TestSpec {
        command: command.to_string(),
        dir: ctx.paths.code.clone(),
        target_url: target_url.to_string(),
        env: ctx
            .config
            .runtime
            .get_ref()
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeout: TEST_TIMEOUT,
        log_path: test_log(ctx, runs),
    };
    match run_tests(&spec).await {
        Ok(run) => {
            // Redacted whole, then cut to its last lines: the cut cannot
            // split a secret the redactor would then no longer find.
            let run = TestRun {
                output: ctx.redactor().redact(&run.output),
                ..run
            };
            Input::TestsRan(TestRunCompleted {
                passed: run.passed,
                failed: run.failed,
                skipped: run.skipped,
                duration_ms: run.duration_ms,
                exit_code: run.exit_code,
                output_tail: run.tail(40),
            })
        }
        Err(e) => Input::TestsRan(TestRunCompleted {
            passed: 0,
            failed: 0,
            skipped: 0,
            duration_ms: 0,
            exit_code: None,
            output_tail: e.to_string(),
        }),
    }
}

fn test_log(ctx: &Context, run: u32) -> PathBuf {
    ctx.log_dir().join(format!("tests-{run}.log"))
}

/// The deployment's last test run, with its full output, for reviewers.
pub fn last_test_run(ctx: &Context, state: &Deployment) -> Option<TestRun> {
    let result = state.tests.as_ref()?;
    let dir = ctx.log_dir();
    let newest = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tests-"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
    // Reviewers may be models: no secret value goes into what they read.
    let output = ctx
        .redactor()
        .redact(&std::fs::read_to_string(newest.path()).unwrap_or_default());
    Some(TestRun {
        passed: result.passed,
        failed: result.failed,
        skipped: result.skipped,
        duration_ms: 0,
        exit_code: result.exit_code,
        output,
        format: None,
    })
}
