//! The built-in members (DESIGN.md: "the embedded default, no network"):
//! `tests`, `requirements` and `hygiene` review a release by checking it
//! themselves; `synthesis` is the Senior's rule-based merge. Each answers in
//! the verdict JSON contract like any model would, with `model = "built-in"`.

mod command;
pub mod contract;
mod hygiene;
pub mod model;
#[cfg(test)]
mod model_tests;
pub mod prompt;
mod requirements;
pub mod scan;
mod synthesis;
#[cfg(test)]
mod test_support;
mod tests_member;

use std::sync::Arc;

pub use command::CommandMember;
pub use hygiene::{HygieneMember, redact_key_material};
pub use model::{Api, ModelMember};
pub use requirements::RequirementsMember;
pub use synthesis::SynthesisMember;
pub use tests_member::TestsMember;

use super::review::{Answer, Member, Synthesizer};
use crate::config::Quorum;
use crate::events::{Finding, Severity, Verdict};

/// The `model` every built-in answer records.
pub const MODEL: &str = "built-in";

/// Findings one answer carries at most: beyond that a reviewer (or the fix
/// loop reading them) learns nothing new, and the log stays small.
pub const MAX_FINDINGS: usize = 50;

/// The built-in Trio/Junior member called `name`, if there is one.
///
/// Takes the quorum like [`builtin_synthesizer`] so the shell builds every
/// role from the same config values; no built-in reviewer weighs it.
pub fn builtin(name: &str, _quorum: Quorum) -> Option<Arc<dyn Member>> {
    match name {
        "tests" => Some(Arc::new(TestsMember)),
        "requirements" => Some(Arc::new(RequirementsMember)),
        "hygiene" => Some(Arc::new(HygieneMember)),
        _ => None,
    }
}

/// The built-in Senior called `name`, if there is one.
pub fn builtin_synthesizer(name: &str, quorum: Quorum) -> Option<Arc<dyn Synthesizer>> {
    match name {
        "synthesis" => Some(Arc::new(SynthesisMember::new(quorum))),
        _ => None,
    }
}

/// A finding not tied to a place in the code.
fn finding(severity: Severity, message: impl Into<String>) -> Finding {
    Finding {
        severity,
        requirement: None,
        file: None,
        line: None,
        message: message.into(),
    }
}

fn answer(verdict: Verdict, summary: impl Into<String>, findings: Vec<Finding>) -> Answer {
    Answer {
        verdict,
        summary: summary.into(),
        findings,
        model: MODEL.to_string(),
        usage: None,
    }
}

/// Worst first, so a cap on findings never drops the one that decides.
fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 0,
        Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low => 3,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use serde_json::Value;

    use super::test_support::{bundle, run};
    use super::*;
    use crate::adapters::review::{Anonymized, ReviewBundle};

    /// DESIGN.md's verdict JSON, checked key by key: what a model or command
    /// must answer, the built-in members answer too.
    fn assert_contract(answer: &Answer) {
        let mut json = serde_json::to_value(answer).expect("serialize");
        let object = json.as_object_mut().expect("an object");
        object.shift_remove("model");
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, ["verdict", "summary", "findings"], "{answer:?}");
        let verdict = object["verdict"].as_str().expect("verdict is a string");
        assert!(
            ["approve", "fixes_needed", "major_flaw"].contains(&verdict),
            "{verdict}"
        );
        assert!(object["summary"].is_string());
        for finding in object["findings"].as_array().expect("findings is a list") {
            let finding = finding.as_object().expect("a finding is an object");
            let keys: Vec<&str> = finding.keys().map(String::as_str).collect();
            assert_eq!(keys, ["severity", "requirement", "file", "line", "message"]);
            let severity = finding["severity"].as_str().expect("severity");
            assert!(["critical", "high", "medium", "low"].contains(&severity));
            assert!(matches!(
                finding["requirement"],
                Value::String(_) | Value::Null
            ));
            assert!(matches!(finding["file"], Value::String(_) | Value::Null));
            assert!(finding["line"].is_u64() || finding["line"].is_null());
            assert!(finding["message"].is_string());
        }
    }

    async fn every_answer(bundle: &ReviewBundle) -> Vec<Answer> {
        let mut answers = Vec::new();
        for name in ["tests", "requirements", "hygiene"] {
            let member = builtin(name, Quorum::All).expect("a built-in member");
            assert_eq!(member.name(), name);
            answers.push(member.review(bundle).await);
        }
        let anonymized: Vec<Anonymized> = answers
            .iter()
            .enumerate()
            .map(|(i, a)| Anonymized {
                label: crate::flow::consensus::anonymous_label(i),
                answer: a.clone(),
            })
            .collect();
        let senior = builtin_synthesizer("synthesis", Quorum::All).expect("the built-in Senior");
        assert_eq!(senior.name(), "synthesis");
        answers.push(senior.synthesize(&anonymized, bundle).await);
        answers
    }

    #[tokio::test]
    async fn built_in_answers_follow_the_verdict_json_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("tests")).expect("mkdir");
        fs::write(dir.path().join("tests/smoke.sh"), "# REQ-1\ncurl $URL\n").expect("write");
        let good = bundle(dir.path(), "- REQ-1: greets", "", Some(run(3, 0, 0, "ok")));
        let good_answers = every_answer(&good).await;
        assert!(good_answers.iter().all(|a| a.verdict == Verdict::Approve));

        let leak = format!("fn main() {{ {}!(1); }}\n", "dbg");
        fs::write(dir.path().join("main.rs"), leak).expect("write");
        let bad = bundle(
            dir.path(),
            "- REQ-1: greets\n- REQ-2: waves",
            "",
            Some(run(1, 2, 1, "FAILED")),
        );
        let bad_answers = every_answer(&bad).await;
        assert!(bad_answers.iter().all(|a| a.verdict != Verdict::Approve));
        assert!(bad_answers.iter().all(|a| !a.findings.is_empty()));

        for answer in good_answers.iter().chain(&bad_answers) {
            assert_eq!(answer.model, MODEL);
            assert_contract(answer);
        }
    }

    #[test]
    fn the_registry_knows_exactly_the_built_in_names() {
        for name in ["tests", "requirements", "hygiene"] {
            assert!(builtin(name, Quorum::TwoThirds).is_some());
            assert!(builtin_synthesizer(name, Quorum::All).is_none());
        }
        assert!(builtin("synthesis", Quorum::All).is_none());
        assert!(builtin("gpt", Quorum::All).is_none());
        assert!(builtin_synthesizer("gpt", Quorum::All).is_none());
        for name in crate::config::BUILT_IN_MEMBERS {
            assert!(
                builtin(name, Quorum::All).is_some()
                    || builtin_synthesizer(name, Quorum::All).is_some()
            );
        }
    }
}
