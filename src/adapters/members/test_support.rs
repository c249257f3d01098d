//! Review bundles for the members' tests.

use std::path::Path;

use crate::adapters::review::ReviewBundle;
use crate::adapters::test_runner::TestRun;

pub fn bundle(
    code_dir: &Path,
    requirements: &str,
    tests_command: &str,
    test_run: Option<TestRun>,
) -> ReviewBundle {
    ReviewBundle {
        app: "hello".into(),
        release: "v2".into(),
        round: 1,
        code_dir: code_dir.to_path_buf(),
        requirements_path: code_dir.join("REQUIREMENTS.md"),
        requirements: requirements.into(),
        tests_command: tests_command.into(),
        test_run,
        synthesis: None,
        fix_history: Vec::new(),
    }
}

pub fn run(passed: u32, failed: u32, exit_code: i32, output: &str) -> TestRun {
    TestRun {
        passed,
        failed,
        skipped: 0,
        duration_ms: 10,
        exit_code: Some(exit_code),
        output: output.into(),
        format: Some("cargo".into()),
    }
}
