//! One type per fact: the payload an adapter produces, the flow's `Input`
//! carries, an `Event` variant wraps and the folds read. Each encodes as
//! the struct variant it replaced did (a named map of the same fields in
//! the same order), so the log's bytes do not change: the golden fixtures
//! under `tests/golden/` pin them.

use serde::{Deserialize, Serialize};

use super::terms::{
    AnalysisPhase, Finding, FixOutcome, IssueOutcome, MeasurementVerdict, Patch, Role, RunVerdict,
    Slot, Tier, Usage, Verdict,
};

/// An instance of the release (or, in a rollback, of the release coming
/// back) started in `slot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreenStarted {
    pub slot: Slot,
    pub endpoint: String,
    pub instance: String,
    /// The digest of the code it runs (its snapshot's), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The instance in `slot` answered its health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreenHealthy {
    pub slot: Slot,
    pub endpoint: String,
    pub checks: u32,
    pub elapsed_ms: u64,
}

/// The instance in `slot` did not answer its health check in time, or
/// never started (no check at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreenUnhealthy {
    pub slot: Slot,
    pub checks: u32,
    pub elapsed_ms: u64,
    pub diagnosis: String,
}

/// One attempt of the fix loop: what the tier was told and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixAttempted {
    pub tier: Tier,
    /// Counted per tier over the whole deployment, from 1.
    pub attempt: u32,
    pub diagnosis: String,
    pub action: String,
    pub outcome: FixOutcome,
    /// What the tier's fixers changed or proposed; the Driver tier's
    /// remedies change no code and have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
}

/// What was still in flight to `slot` when its drain ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drained {
    pub slot: Slot,
    pub remaining: u32,
    pub waited_ms: u64,
    pub timed_out: bool,
}

/// The deployment report, written to `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportWritten {
    pub path: String,
    pub sha256: String,
}

/// The report committed to the code directory's repository, or why not
/// (`commit` is `None`): a detached HEAD, no repository, git's refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReportCommitted {
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub pushed: bool,
    /// What the user should know: why nothing was committed, changes of
    /// theirs left uncommitted, a push that failed.
    pub notes: Vec<String>,
}

/// The issues named by `fixes #N`, `closes #N` or `resolves #N` in the
/// commits since the previously promoted release (`since`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuesReferenced {
    pub issues: Vec<u64>,
    pub commits: u32,
    pub since: Option<String>,
}

/// One named issue handled on the forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueClosed {
    pub issue: u64,
    pub outcome: IssueOutcome,
    pub detail: String,
}

/// A person's call on a deployment (approve, reject, abort): who, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intervention {
    pub by: String,
    pub reason: String,
    /// `approve --full`: a canary's remaining steps and analyses are
    /// skipped, green goes to 100 %. (Added after the first fixtures: left
    /// out of the encoding when false.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

impl Intervention {
    /// A person's call that is not a `--full` approval.
    pub fn by(by: impl Into<String>, reason: impl Into<String>) -> Intervention {
        Intervention {
            by: by.into(),
            reason: reason.into(),
            full: false,
        }
    }
}

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

/// One member's verdict, as the member gives it. Recorded inside the
/// round's `VerdictRecorded` or `SynthesisRecorded`, its fields inline (the
/// field order is the encoding's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Which model or program answered (`built-in` for the built-in members).
    pub model: String,
    pub verdict: Verdict,
    pub summary: String,
    pub findings: Vec<Finding>,
    /// What a model or command reviewer cost and saw; none for built-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl Answer {
    /// The answer recorded when a member could not give one.
    pub fn abstain(model: &str, why: impl Into<String>) -> Answer {
        Answer {
            model: model.to_string(),
            verdict: Verdict::Abstain,
            summary: why.into(),
            findings: Vec::new(),
            usage: None,
        }
    }

    /// Only what a later reader of the round may see: the verdict and the
    /// findings, not who answered or what it cost (the Senior reads the
    /// Trio anonymized; the Juniors read the synthesis).
    pub fn anonymous(verdict: Verdict, findings: Vec<Finding>) -> Answer {
        Answer {
            model: String::new(),
            verdict,
            summary: String::new(),
            findings,
            usage: None,
        }
    }
}

/// A reviewer's answer in a review round: a Trio member's or a Junior's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecorded {
    /// The round it counts in: the deployment's, set when it is recorded.
    pub round: u32,
    pub role: Role,
    pub member: String,
    #[serde(flatten)]
    pub answer: Answer,
}

/// The Senior's synthesis of the Trio's anonymized verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthesisRecorded {
    /// The round it counts in: the deployment's, set when it is recorded.
    pub round: u32,
    pub member: String,
    #[serde(flatten)]
    pub answer: Answer,
}

/// An analysis run begins: template `name`, the deployment's `run`th.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisStarted {
    pub name: String,
    pub phase: AnalysisPhase,
    pub run: u32,
}

/// One metric measured once: what the provider gave (`value`, and for a
/// comparison the baseline's), the verdict its conditions gave, and why
/// in words (`detail`: the condition that decided, the provider's error,
/// too few requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisMeasured {
    pub name: String,
    pub metric: String,
    /// The measurement's place in the run, from 0; every metric of the
    /// template is measured once per index.
    pub index: u32,
    pub value: serde_json::Value,
    #[serde(default)]
    pub baseline: Option<serde_json::Value>,
    pub verdict: MeasurementVerdict,
    pub detail: String,
}

/// An analysis run ended, with the rule that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisCompleted {
    pub name: String,
    pub phase: AnalysisPhase,
    pub verdict: RunVerdict,
    pub reason: String,
}

/// An alert from monitoring (Alertmanager's webhook) about an app's live
/// release, and how long after its switch it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReceived {
    /// `firing` or `resolved`, as the group said.
    pub status: String,
    /// Each alert of the group: its name, its own status, its summary.
    pub alerts: Vec<Alert>,
    /// From the release's switch to the alert; `None` when it never went live.
    pub since_switch_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub name: String,
    pub status: String,
    pub summary: String,
    pub fingerprint: String,
}

impl AlertReceived {
    pub fn firing(&self) -> bool {
        self.status == "firing" || self.alerts.iter().any(|a| a.status == "firing")
    }

    /// The firing alerts' names, for a rollback's reason.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self
            .alerts
            .iter()
            .filter(|a| a.status == "firing")
            .map(|a| a.name.as_str())
            .collect();
        names.join(", ")
    }
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

impl Redact for Answer {
    /// The words are the reviewer's; the verdict, the model's name and
    /// the usage are counted or chosen.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let Answer {
            model,
            verdict,
            summary,
            findings,
            usage,
        } = self;
        Answer {
            model,
            verdict,
            summary: scrub(&summary),
            findings: scrub_findings(findings, scrub),
            usage,
        }
    }
}

impl Redact for VerdictRecorded {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let VerdictRecorded {
            round,
            role,
            member,
            answer,
        } = self;
        VerdictRecorded {
            round,
            role,
            member,
            answer: answer.redact(scrub),
        }
    }
}

impl Redact for SynthesisRecorded {
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let SynthesisRecorded {
            round,
            member,
            answer,
        } = self;
        SynthesisRecorded {
            round,
            member,
            answer: answer.redact(scrub),
        }
    }
}

impl Redact for AnalysisMeasured {
    /// A provider's error or an exec command's output may quote anything;
    /// the value is a number or a map of numbers the provider parsed.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let AnalysisMeasured {
            name,
            metric,
            index,
            value,
            baseline,
            verdict,
            detail,
        } = self;
        AnalysisMeasured {
            name,
            metric,
            index,
            value: scrub_json(value, scrub),
            baseline: baseline.map(|b| scrub_json(b, scrub)),
            verdict,
            detail: scrub(&detail),
        }
    }
}

/// A JSON value with every string in it scrubbed (a `web` or `exec`
/// provider's answer may hold text).
fn scrub_json(value: serde_json::Value, scrub: &dyn Fn(&str) -> String) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(scrub(&text)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| scrub_json(v, scrub)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (scrub(&k), scrub_json(v, scrub)))
                .collect(),
        ),
        number_bool_or_null => number_bool_or_null,
    }
}

impl Redact for AlertReceived {
    /// Monitoring's words (names, summaries) are text from outside.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let AlertReceived {
            status,
            alerts,
            since_switch_ms,
        } = self;
        AlertReceived {
            status: scrub(&status),
            alerts: alerts
                .into_iter()
                .map(
                    |Alert {
                         name,
                         status,
                         summary,
                         fingerprint,
                     }| Alert {
                        name: scrub(&name),
                        status: scrub(&status),
                        summary: scrub(&summary),
                        fingerprint,
                    },
                )
                .collect(),
            since_switch_ms,
        }
    }
}

impl Redact for GreenStarted {
    /// Addresses, ids and digests deployflow made: kept exact.
    fn redact(self, _scrub: &dyn Fn(&str) -> String) -> Self {
        let GreenStarted {
            slot,
            endpoint,
            instance,
            digest,
        } = self;
        GreenStarted {
            slot,
            endpoint,
            instance,
            digest,
        }
    }
}

impl Redact for GreenHealthy {
    fn redact(self, _scrub: &dyn Fn(&str) -> String) -> Self {
        let GreenHealthy {
            slot,
            endpoint,
            checks,
            elapsed_ms,
        } = self;
        GreenHealthy {
            slot,
            endpoint,
            checks,
            elapsed_ms,
        }
    }
}

impl Redact for GreenUnhealthy {
    /// A diagnosis quotes the app's own output.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let GreenUnhealthy {
            slot,
            checks,
            elapsed_ms,
            diagnosis,
        } = self;
        GreenUnhealthy {
            slot,
            checks,
            elapsed_ms,
            diagnosis: scrub(&diagnosis),
        }
    }
}

impl Redact for FixAttempted {
    /// The diagnosis quotes the app; the action and the diffs are a
    /// fixer's, which read the code and its logs.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let FixAttempted {
            tier,
            attempt,
            diagnosis,
            action,
            outcome,
            patches,
        } = self;
        FixAttempted {
            tier,
            attempt,
            diagnosis: scrub(&diagnosis),
            action: scrub(&action),
            outcome,
            patches: patches
                .into_iter()
                .map(
                    |Patch {
                         member,
                         applied,
                         diff,
                     }| Patch {
                        member,
                        applied,
                        diff: scrub(&diff),
                    },
                )
                .collect(),
        }
    }
}

impl Redact for Drained {
    fn redact(self, _scrub: &dyn Fn(&str) -> String) -> Self {
        let Drained {
            slot,
            remaining,
            waited_ms,
            timed_out,
        } = self;
        Drained {
            slot,
            remaining,
            waited_ms,
            timed_out,
        }
    }
}

impl Redact for ReportWritten {
    /// A path and a hash deployflow made: kept exact.
    fn redact(self, _scrub: &dyn Fn(&str) -> String) -> Self {
        let ReportWritten { path, sha256 } = self;
        ReportWritten { path, sha256 }
    }
}

impl Redact for ReportCommitted {
    /// Notes quote git, which may echo a remote's credentials.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let ReportCommitted {
            commit,
            branch,
            pushed,
            notes,
        } = self;
        ReportCommitted {
            commit,
            branch,
            pushed,
            notes: notes.iter().map(|note| scrub(note)).collect(),
        }
    }
}

impl Redact for IssuesReferenced {
    fn redact(self, _scrub: &dyn Fn(&str) -> String) -> Self {
        let IssuesReferenced {
            issues,
            commits,
            since,
        } = self;
        IssuesReferenced {
            issues,
            commits,
            since,
        }
    }
}

impl Redact for IssueClosed {
    /// The detail quotes the forge's answer.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let IssueClosed {
            issue,
            outcome,
            detail,
        } = self;
        IssueClosed {
            issue,
            outcome,
            detail: scrub(&detail),
        }
    }
}

impl Redact for Intervention {
    /// People's words: a reason may paste a token.
    fn redact(self, scrub: &dyn Fn(&str) -> String) -> Self {
        let Intervention { by, reason, full } = self;
        Intervention {
            by: scrub(&by),
            reason: scrub(&reason),
            full,
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
