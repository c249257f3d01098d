//! `tests`: approves only a run that proves something — at least one test
//! passed, none failed, and the command itself succeeded. A run that counted
//! nothing proves nothing, so it is not an approval either.

use async_trait::async_trait;

use super::{answer, finding};
use crate::adapters::review::{Answer, Member, ReviewBundle};
use crate::adapters::test_runner::TestRun;
use crate::events::{Severity, Verdict};

/// Lines of output quoted in a finding: enough to see the failure, few
/// enough to keep the log readable (the full tail is in `TestRunCompleted`).
const TAIL_LINES: usize = 8;
const TAIL_LINE_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, Default)]
pub struct TestsMember;

#[async_trait]
impl Member for TestsMember {
    fn name(&self) -> &str {
        "tests"
    }

    async fn review(&self, bundle: &ReviewBundle) -> Answer {
        let Some(run) = &bundle.test_run else {
            return answer(
                Verdict::FixesNeeded,
                "no test run to judge: the release's tests have not run against green",
                vec![finding(
                    Severity::High,
                    format!("no test run (`{}` did not run)", bundle.tests_command),
                )],
            );
        };
        judge(run)
    }
}

fn judge(run: &TestRun) -> Answer {
    let counts = format!(
        "{} passed, {} failed, {} skipped, exit code {}",
        run.passed,
        run.failed,
        run.skipped,
        exit_name(run.exit_code)
    );
    let mut problems = Vec::new();
    if run.failed > 0 {
        problems.push(format!(
            "{} of {} tests failed",
            run.failed,
            run.passed + run.failed
        ));
    }
    match run.exit_code {
        Some(0) => {}
        Some(code) => problems.push(format!("the test command exited with code {code}")),
        None => problems.push("the test command was killed (timeout or signal)".to_string()),
    }
    if run.passed == 0 && run.failed == 0 {
        let format = run.format.as_deref().unwrap_or("none recognised");
        problems.push(format!(
            "no passing test was counted (summary format: {format})"
        ));
    }
    if problems.is_empty() {
        return answer(
            Verdict::Approve,
            format!("the tests pass ({counts})"),
            Vec::new(),
        );
    }
    let tail = output_tail(&run.output);
    let quoted = if tail.is_empty() {
        "the output is empty".to_string()
    } else {
        format!("output tail:\n{tail}")
    };
    answer(
        Verdict::FixesNeeded,
        format!("the tests do not pass: {} ({counts})", problems.join("; ")),
        vec![finding(
            Severity::High,
            format!("{}; {quoted}", problems.join("; ")),
        )],
    )
}

fn exit_name(code: Option<i32>) -> String {
    code.map_or_else(|| "none (killed)".to_string(), |c| c.to_string())
}

/// The last few non-blank lines, each cut to a readable width.
fn output_tail(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|l| match l.char_indices().nth(TAIL_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => (*l).to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{bundle, run};
    use super::*;

    async fn review(test_run: Option<TestRun>) -> Answer {
        let dir = std::path::Path::new("/nonexistent");
        TestsMember
            .review(&bundle(dir, "", "./smoke-test.sh", test_run))
            .await
    }

    #[tokio::test]
    async fn a_passing_run_is_approved() {
        let answer = review(Some(run(12, 0, 0, "test result: ok. 12 passed"))).await;
        assert_eq!(answer.verdict, Verdict::Approve);
        assert!(answer.findings.is_empty());
        assert!(answer.summary.contains("12 passed"));
    }

    #[tokio::test]
    async fn no_run_needs_fixes() {
        let answer = review(None).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert_eq!(answer.findings.len(), 1);
        assert_eq!(answer.findings[0].severity, Severity::High);
        assert!(answer.findings[0].message.contains("no test run"));
    }

    #[tokio::test]
    async fn failures_are_quoted_with_the_output_tail() {
        let output: String = (1..=20).map(|i| format!("line {i}\n")).collect::<String>()
            + "test greets ... FAILED\n\ntest result: FAILED. 3 passed; 2 failed\n";
        let answer = review(Some(run(3, 2, 101, &output))).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        let message = &answer.findings[0].message;
        assert_eq!(answer.findings[0].severity, Severity::High);
        assert!(message.contains("2 of 5 tests failed"), "{message}");
        assert!(message.contains("test greets ... FAILED"), "{message}");
        assert!(message.contains("exited with code 101"), "{message}");
        assert!(!message.contains("line 1\n"), "only the tail: {message}");
    }

    #[tokio::test]
    async fn a_run_that_counted_nothing_is_not_approved() {
        let mut empty = run(0, 0, 0, "");
        empty.format = None;
        let answer = review(Some(empty)).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert!(answer.findings[0].message.contains("no passing test"));
    }

    #[tokio::test]
    async fn a_failing_exit_code_or_a_kill_is_not_approved() {
        let answer = review(Some(run(4, 0, 1, "error: could not connect"))).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert!(answer.findings[0].message.contains("could not connect"));
        let mut killed = run(4, 0, 0, "");
        killed.exit_code = None;
        let answer = review(Some(killed)).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert!(answer.findings[0].message.contains("killed"));
    }
}
