//! The review loop's rules: the quorum, and how a round's verdicts become a
//! decision (the Senior's built-in merge, which counts by the same quorum,
//! is `adapters::members::synthesis`). Each rule
//! is written out in the decision it produces, for the audit.

use super::state::{Deployment, Review};
use crate::config::Quorum;
use crate::events::{Decision, Finding, Severity, Verdict};

/// The merged view of the Trio's verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synthesis {
    pub verdict: Verdict,
    pub summary: String,
    pub findings: Vec<Finding>,
}

/// The labels the Senior sees instead of the members' names, so it weighs
/// what was said, not who said it.
pub fn anonymous_label(index: usize) -> String {
    let letter = (b'A' + (index % 26) as u8) as char;
    if index < 26 {
        format!("Reviewer {letter}")
    } else {
        format!("Reviewer {letter}{}", index / 26)
    }
}

/// How many approvals `quorum` asks of `members` reviewers.
pub fn approvals_needed(quorum: Quorum, members: usize) -> usize {
    match quorum {
        Quorum::All => members,
        Quorum::TwoThirds => (2 * members).div_ceil(3),
    }
}

/// How many of `reviews` gave `verdict`.
pub fn counted(reviews: &[Review], verdict: Verdict) -> usize {
    reviews.iter().filter(|r| r.verdict == verdict).count()
}

/// A round's decision and the rule that gave it.
pub fn decide_round(state: &Deployment) -> (Decision, String) {
    let policy = &state.policy;
    let trio = &state.trio_reviews;
    let approvals = counted(trio, Verdict::Approve);
    let needed = approvals_needed(policy.quorum, trio.len());
    let synthesis = state.synthesis.as_ref().map(|s| s.verdict);
    if synthesis == Some(Verdict::MajorFlaw) {
        return (
            Decision::ReturnToDevelopment,
            "a major flaw is upheld by the synthesis: the release returns to development".into(),
        );
    }
    // Every member's findings, the Trio's included: a Senior (a model,
    // say) that leaves a critical finding out of its synthesis does not
    // close it. The rule stated below is then the rule applied.
    let critical: Vec<&str> = state
        .trio_reviews
        .iter()
        .chain(&state.synthesis)
        .chain(&state.junior_reviews)
        .filter(|r| r.findings.iter().any(|f| f.severity == Severity::Critical))
        .map(|r| r.member.as_str())
        .collect();
    let objecting: Vec<&str> = state
        .junior_reviews
        .iter()
        .filter(|r| r.verdict != Verdict::Approve)
        .map(|r| r.member.as_str())
        .collect();
    let blockers = [
        (approvals < needed).then(|| {
            format!(
                "quorum `{}` not met: {approvals} of {} Trio approvals, {needed} needed",
                policy.quorum.name(),
                trio.len()
            )
        }),
        (synthesis != Some(Verdict::Approve)).then(|| "the synthesis does not approve".into()),
        (!objecting.is_empty())
            .then(|| format!("Juniors without approval: {}", objecting.join(", "))),
        (!critical.is_empty())
            .then(|| format!("a critical finding is open (from {})", critical.join(", "))),
    ];
    let blockers: Vec<String> = blockers.into_iter().flatten().collect();
    if blockers.is_empty() {
        let rule = format!(
            "consensus: quorum `{}` met ({approvals} of {}), the synthesis and every Junior approve, no critical finding from any member",
            policy.quorum.name(),
            trio.len()
        );
        return if policy.manual_gate {
            (
                Decision::AwaitManualApproval,
                format!("{rule}; manual gate on"),
            )
        } else {
            (Decision::Promote, rule)
        };
    }
    let why = blockers.join("; ");
    if state.round >= policy.max_rounds {
        (
            Decision::Rollback,
            format!(
                "no consensus after {} of {} rounds: {why}",
                state.round, policy.max_rounds
            ),
        )
    } else {
        (Decision::FixesNeeded, format!("fixes needed: {why}"))
    }
}

/// What the fix loop is asked to fix after a round that needs fixes.
pub fn fix_request(round: u32, findings: &[Finding]) -> String {
    let mut lines = vec![format!("review round {round} asks for fixes")];
    for finding in findings {
        let place = match (&finding.file, finding.line) {
            (Some(file), Some(line)) => format!(" {file}:{line}"),
            (Some(file), None) => format!(" {file}"),
            _ => String::new(),
        };
        let requirement = finding
            .requirement
            .as_deref()
            .map(|r| format!(" [{r}]"))
            .unwrap_or_default();
        lines.push(format!(
            "- {}{requirement}{place}: {}",
            finding.severity.name(),
            finding.message
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(verdict: Verdict, severities: &[Severity]) -> Review {
        Review {
            member: "m".into(),
            verdict,
            findings: severities
                .iter()
                .enumerate()
                .map(|(i, s)| Finding {
                    severity: *s,
                    requirement: None,
                    file: None,
                    line: None,
                    message: format!("finding {i}"),
                })
                .collect(),
        }
    }

    #[test]
    fn reviewers_are_shown_anonymized() {
        assert_eq!(anonymous_label(0), "Reviewer A");
        assert_eq!(anonymous_label(2), "Reviewer C");
    }

    /// Every combination of the Trio's verdicts and findings, whatever
    /// the Senior's synthesis says (a model may say anything) and with a
    /// Junior or none: the decision promotes exactly when the rule it
    /// records holds, and an open critical finding from any member always
    /// blocks it.
    #[test]
    fn the_rule_recorded_is_the_rule_applied_whatever_the_senior_says() {
        let verdicts = [
            Verdict::Approve,
            Verdict::FixesNeeded,
            Verdict::MajorFlaw,
            Verdict::Abstain,
        ];
        let finding_sets: [&[Severity]; 3] = [&[], &[Severity::High], &[Severity::Critical]];
        let options: Vec<Review> = verdicts
            .iter()
            .flat_map(|v| finding_sets.iter().map(move |f| review(*v, f)))
            .collect();
        let juniors: Vec<Vec<Review>> = vec![
            vec![],
            vec![review(Verdict::Approve, &[])],
            vec![review(Verdict::Approve, &[Severity::Critical])],
            vec![review(Verdict::FixesNeeded, &[])],
        ];
        let mut checked = 0;
        for quorum in [Quorum::All, Quorum::TwoThirds] {
            for a in &options {
                for b in &options {
                    for c in &options {
                        for synthesis in &options {
                            for junior in &juniors {
                                let mut state = Deployment::empty();
                                state.policy.quorum = quorum;
                                state.policy.max_rounds = 3;
                                state.round = 1;
                                state.trio_reviews = vec![a.clone(), b.clone(), c.clone()];
                                state.synthesis = Some(synthesis.clone());
                                state.junior_reviews = junior.clone();
                                check_round(&state);
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 12 * 12 * 12 * 12 * 4);
    }

    fn check_round(state: &Deployment) {
        let (decision, rule) = decide_round(state);
        let everyone = || {
            state
                .trio_reviews
                .iter()
                .chain(&state.synthesis)
                .chain(&state.junior_reviews)
        };
        let critical =
            everyone().any(|r| r.findings.iter().any(|f| f.severity == Severity::Critical));
        let approvals = counted(&state.trio_reviews, Verdict::Approve);
        let quorum = approvals >= approvals_needed(state.policy.quorum, state.trio_reviews.len());
        let synthesis = state.synthesis.as_ref().map(|s| s.verdict);
        let juniors = state
            .junior_reviews
            .iter()
            .all(|r| r.verdict == Verdict::Approve);
        let consensus = !critical && quorum && synthesis == Some(Verdict::Approve) && juniors;
        let promoted = matches!(decision, Decision::Promote | Decision::AwaitManualApproval);
        let context = || format!("{decision:?} by `{rule}` for {state:#?}");
        assert_eq!(promoted, consensus, "{}", context());
        if promoted {
            assert!(
                rule.contains("no critical finding from any member"),
                "{}",
                context()
            );
        } else if synthesis == Some(Verdict::MajorFlaw) {
            assert_eq!(decision, Decision::ReturnToDevelopment, "{}", context());
        } else {
            // Each blocker that applies is the one named.
            assert_eq!(
                rule.contains("critical finding is open"),
                critical,
                "{}",
                context()
            );
            assert_eq!(rule.contains("quorum"), !quorum, "{}", context());
            assert_eq!(
                rule.contains("the synthesis does not approve"),
                synthesis != Some(Verdict::Approve),
                "{}",
                context()
            );
            assert_eq!(
                rule.contains("Juniors without approval"),
                !juniors,
                "{}",
                context()
            );
        }
    }
}
