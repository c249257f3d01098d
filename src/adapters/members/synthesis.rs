//! `synthesis`: the Senior's built-in, rule-based merge of the Trio's
//! anonymized verdicts (`synthesize`). It sees only the
//! labels (Reviewer A, B, C), so its answer can name nobody.

use async_trait::async_trait;

use super::answer;
use crate::adapters::review::{Anonymized, Answer, ReviewBundle, Synthesizer};
use crate::config::Quorum;
use crate::events::{Finding, Severity, Verdict};
use crate::flow::Review;
use crate::flow::consensus::{Synthesis, approvals_needed, counted};

/// The built-in Senior. The quorum is fixed at construction because the
/// `Synthesizer` trait does not carry it.
#[derive(Debug, Clone, Copy)]
pub struct SynthesisMember {
    pub quorum: Quorum,
}

impl SynthesisMember {
    pub fn new(quorum: Quorum) -> Self {
        Self { quorum }
    }
}

/// The built-in Senior: a major flaw is upheld when a majority calls it one
/// or one reviewer backs it with a critical finding; any fix request or
/// serious finding asks for fixes; approval needs the quorum.
pub fn synthesize(trio: &[Review], quorum: Quorum) -> Synthesis {
    let mut findings: Vec<Finding> = Vec::new();
    for finding in trio.iter().flat_map(|r| &r.findings) {
        if !findings.contains(finding) {
            findings.push(finding.clone());
        }
    }
    let majors = counted(trio, Verdict::MajorFlaw);
    let backed_major = trio.iter().any(|r| {
        r.verdict == Verdict::MajorFlaw
            && r.findings.iter().any(|f| f.severity == Severity::Critical)
    });
    let fixes = counted(trio, Verdict::FixesNeeded);
    let approvals = counted(trio, Verdict::Approve);
    let abstains = counted(trio, Verdict::Abstain);
    let serious = findings
        .iter()
        .any(|f| matches!(f.severity, Severity::Critical | Severity::High));
    let tally = format!(
        "{approvals} approve, {fixes} fixes needed, {majors} major flaw, {abstains} abstain"
    );
    let (verdict, why) = if majors * 2 > trio.len() || backed_major {
        (
            Verdict::MajorFlaw,
            "a major flaw is upheld (a majority, or a critical finding behind it)",
        )
    } else if majors + fixes > 0 || serious {
        (Verdict::FixesNeeded, "fixes are needed before promotion")
    } else if approvals >= approvals_needed(quorum, trio.len()) {
        (Verdict::Approve, "the quorum approves")
    } else {
        (
            Verdict::Abstain,
            "too few answers to approve: an abstention is never an approval",
        )
    };
    Synthesis {
        verdict,
        summary: format!("{why} ({tally}; {} findings)", findings.len()),
        findings,
    }
}

#[async_trait]
impl Synthesizer for SynthesisMember {
    fn name(&self) -> &str {
        "synthesis"
    }

    async fn synthesize(&self, verdicts: &[Anonymized], _bundle: &ReviewBundle) -> Answer {
        // With no verdict the quorum rule would be met vacuously; nothing
        // reviewed must never read as an approval.
        if verdicts.is_empty() {
            return Answer::abstain(super::MODEL, "no Trio verdict to synthesize");
        }
        let reviews: Vec<Review> = verdicts
            .iter()
            .map(|v| Review {
                member: v.label.clone(),
                verdict: v.answer.verdict,
                findings: v.answer.findings.clone(),
            })
            .collect();
        let merged = synthesize(&reviews, self.quorum);
        let who: Vec<String> = verdicts
            .iter()
            .map(|v| format!("{}: {}", v.label, v.answer.verdict.name()))
            .collect();
        answer(
            merged.verdict,
            format!(
                "{}; {} (quorum {})",
                who.join(", "),
                merged.summary,
                self.quorum.name()
            ),
            merged.findings,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::bundle;
    use super::*;
    use crate::flow::consensus::anonymous_label;

    fn anonymized(verdicts: &[(Verdict, Option<Severity>)]) -> Vec<Anonymized> {
        verdicts
            .iter()
            .enumerate()
            .map(|(i, (verdict, severity))| Anonymized {
                label: anonymous_label(i),
                answer: Answer {
                    verdict: *verdict,
                    summary: format!("member-{i} says so"),
                    findings: severity
                        .iter()
                        .map(|s| Finding {
                            severity: *s,
                            requirement: None,
                            file: Some("src/main.rs".into()),
                            line: Some(3),
                            message: format!("problem {i}"),
                        })
                        .collect(),
                    model: format!("model-{i}"),
                    usage: None,
                },
            })
            .collect()
    }

    async fn merge(quorum: Quorum, verdicts: &[(Verdict, Option<Severity>)]) -> Answer {
        let dir = std::path::Path::new("/nonexistent");
        SynthesisMember::new(quorum)
            .synthesize(&anonymized(verdicts), &bundle(dir, "", "", None))
            .await
    }

    #[tokio::test]
    async fn a_major_flaw_backed_by_a_critical_finding_is_upheld_without_names() {
        let answer = merge(
            Quorum::All,
            &[
                (Verdict::Approve, None),
                (Verdict::MajorFlaw, Some(Severity::Critical)),
                (Verdict::Approve, None),
            ],
        )
        .await;
        assert_eq!(answer.verdict, Verdict::MajorFlaw);
        assert_eq!(answer.findings.len(), 1);
        assert_eq!(answer.findings[0].severity, Severity::Critical);
        let summary = &answer.summary;
        assert!(
            summary.contains("Reviewer A: approve, Reviewer B: major_flaw, Reviewer C: approve"),
            "{summary}"
        );
        let json = serde_json::to_string(&answer).expect("serialize");
        for name in ["member-", "model-", "tests", "hygiene", "requirements"] {
            assert!(!json.contains(name), "{name} named in {json}");
        }
        assert_eq!(answer.model, super::super::MODEL);
    }

    #[tokio::test]
    async fn the_quorum_decides_approval() {
        let two_of_three = [
            (Verdict::Approve, None),
            (Verdict::Approve, None),
            (Verdict::Abstain, None),
        ];
        let all = merge(Quorum::All, &two_of_three).await;
        assert_eq!(all.verdict, Verdict::Abstain);
        let answer = merge(Quorum::TwoThirds, &two_of_three).await;
        assert_eq!(answer.verdict, Verdict::Approve);
        assert!(answer.summary.contains("quorum 2/3"), "{}", answer.summary);
    }

    #[tokio::test]
    async fn fixes_requests_are_carried_over() {
        let answer = merge(
            Quorum::All,
            &[
                (Verdict::Approve, None),
                (Verdict::FixesNeeded, Some(Severity::Medium)),
                (Verdict::Approve, None),
            ],
        )
        .await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert_eq!(answer.findings[0].message, "problem 1");
    }

    #[tokio::test]
    async fn no_verdict_is_no_approval() {
        let answer = merge(Quorum::All, &[]).await;
        assert_eq!(answer.verdict, Verdict::Abstain);
    }

    #[tokio::test]
    async fn one_major_flaw_without_a_critical_finding_asks_for_fixes() {
        let trio = [
            (Verdict::MajorFlaw, Some(Severity::High)),
            (Verdict::Approve, None),
            (Verdict::Approve, None),
        ];
        let answer = merge(Quorum::All, &trio).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
    }

    #[tokio::test]
    async fn a_major_flaw_backed_by_a_critical_finding_is_upheld() {
        let trio = [
            (Verdict::MajorFlaw, Some(Severity::Critical)),
            (Verdict::Approve, None),
            (Verdict::Approve, None),
        ];
        let answer = merge(Quorum::All, &trio).await;
        assert_eq!(answer.verdict, Verdict::MajorFlaw);
    }

    #[tokio::test]
    async fn abstentions_never_approve() {
        let trio = [(Verdict::Abstain, None); 3];
        let answer = merge(Quorum::TwoThirds, &trio).await;
        assert_eq!(answer.verdict, Verdict::Abstain);
    }
}
