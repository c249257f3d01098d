//! One type per fact: the payload an adapter produces, the flow's `Input`
//! carries, an `Event` variant wraps and the folds read. Each encodes as
//! the struct variant it replaced did (a named map of the same fields in
//! the same order), so the log's bytes do not change: the golden fixtures
//! under `tests/golden/` pin them.

use serde::{Deserialize, Serialize};

/// A test run against green, its output cut to its last lines (redacted
/// first, so the cut cannot split a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRunCompleted {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub output_tail: String,
}

/// Scrubbing secret values out of a payload before it is recorded. Each
/// payload destructures itself whole, with no `..`: a new field does not
/// compile until someone decides whether it is text from outside (scrubbed:
/// logs, answers, people's words) or something deployflow made itself
/// (kept exact: counts, addresses, hashes, which a short secret could
/// match inside).
pub trait Redact {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self;
}

impl Redact for TestRunCompleted {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let TestRunCompleted {
            passed,
            failed,
            skipped,
            duration_ms,
            exit_code,
            output_tail,
        } = self;
        TestRunCompleted {
            passed,
            failed,
            skipped,
            duration_ms,
            exit_code,
            output_tail: scrub(&output_tail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_run_keeps_its_counts_and_loses_its_secrets() {
        let run = TestRunCompleted {
            passed: 3,
            failed: 1,
            skipped: 0,
            duration_ms: 42,
            exit_code: Some(1),
            output_tail: "token=hunter2 failed".into(),
        };
        let scrubbed = run
            .clone()
            .redact(&|text| text.replace("hunter2", "[redacted]"));
        assert_eq!(scrubbed.output_tail, "token=[redacted] failed");
        assert_eq!(
            (
                scrubbed.passed,
                scrubbed.failed,
                scrubbed.duration_ms,
                scrubbed.exit_code
            ),
            (run.passed, run.failed, run.duration_ms, run.exit_code)
        );
    }
}
