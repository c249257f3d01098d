//! One type per fact: the payload an adapter produces, the flow's `Input`
//! carries, an `Event` variant wraps and the folds read. Each encodes as
//! the struct variant it replaced did (a named map of the same fields in
//! the same order), so the log's bytes do not change: the golden fixtures
//! under `tests/golden/` pin them.

use serde::{Deserialize, Serialize};

use super::event::{Finding, Role, Usage, Verdict};

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

/// A reviewer's answer in a review round: a Trio member's or a Junior's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecorded {
    /// The round it counts in: the deployment's, set when it is recorded.
    pub round: u32,
    pub role: Role,
    pub member: String,
    pub model: String,
    pub verdict: Verdict,
    pub summary: String,
    pub findings: Vec<Finding>,
    /// Built-in members have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// The Senior's synthesis of the Trio's anonymized verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthesisRecorded {
    /// The round it counts in: the deployment's, set when it is recorded.
    pub round: u32,
    pub member: String,
    pub model: String,
    pub verdict: Verdict,
    pub summary: String,
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
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

/// A finding's words are the reviewer's; its severity is a choice.
fn scrub_findings(findings: Vec<Finding>, scrub: &dyn Fn(&str) -> String) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|finding| {
            let Finding {
                severity,
                requirement,
                file,
                line,
                message,
            } = finding;
            Finding {
                severity,
                requirement: requirement.map(|t| scrub(&t)),
                file: file.map(|t| scrub(&t)),
                line,
                message: scrub(&message),
            }
        })
        .collect()
}

impl Redact for VerdictRecorded {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let VerdictRecorded {
            round,
            role,
            member,
            model,
            verdict,
            summary,
            findings,
            usage,
        } = self;
        VerdictRecorded {
            round,
            role,
            member,
            model,
            verdict,
            summary: scrub(&summary),
            findings: scrub_findings(findings, scrub),
            usage,
        }
    }
}

impl Redact for SynthesisRecorded {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let SynthesisRecorded {
            round,
            member,
            model,
            verdict,
            summary,
            findings,
            usage,
        } = self;
        SynthesisRecorded {
            round,
            member,
            model,
            verdict,
            summary: scrub(&summary),
            findings: scrub_findings(findings, scrub),
            usage,
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
