//! The review audit of one deployment: every verdict and decision in order,
//! with DESIGN.md's `--json` field names.

use crate::events::payloads::{Answer, Intervention, SynthesisRecorded, VerdictRecorded};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Envelope, Event, Finding, Usage};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub round: u32,
    pub role: &'static str,
    pub member: String,
    pub model: String,
    pub verdict: Option<&'static str>,
    pub findings: Vec<Finding>,
    pub decision: Option<String>,
    pub rule: Option<String>,
    /// What the member said in a sentence: why it approved, asked for
    /// fixes, or abstained (a model that timed out says so here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A model or command reviewer's tokens, latency, reported model and
    /// prompt hash; absent for built-in members and decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A member's answer as an audit row.
fn heard(
    entry: impl Fn(&'static str, &str, &str, Option<&'static str>, &[Finding]) -> AuditEntry,
    role: &'static str,
    member: &str,
    answer: &Answer,
) -> AuditEntry {
    AuditEntry {
        usage: answer.usage.clone(),
        summary: Some(answer.summary.clone()).filter(|s| !s.is_empty()),
        ..entry(
            role,
            member,
            &answer.model,
            Some(answer.verdict.name()),
            &answer.findings,
        )
    }
}

pub fn entries(events: &[Envelope]) -> Vec<AuditEntry> {
    let mut round = 0;
    let mut out = Vec::new();
    for envelope in events {
        let entry = |role, member: &str, model: &str, verdict, findings: &[Finding]| AuditEntry {
            seq: envelope.seq,
            at: envelope.recorded_at,
            round,
            role,
            member: member.to_string(),
            model: model.to_string(),
            verdict,
            findings: findings.to_vec(),
            decision: None,
            rule: None,
            summary: None,
            usage: None,
        };
        match &envelope.event {
            Event::ReviewRequested { round: r, .. } => round = *r,
            Event::VerdictRecorded(VerdictRecorded {
                role,
                member,
                answer,
                ..
            }) => out.push(heard(entry, role.name(), member, answer)),
            Event::SynthesisRecorded(SynthesisRecorded { member, answer, .. }) => {
                out.push(heard(entry, "senior", member, answer))
            }
            Event::DecisionMade { decision, rule, .. } => {
                let mut e = entry("senior", "decision", "rules", None, &[]);
                e.decision = Some(
                    serde_json::to_value(decision)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                );
                e.rule = Some(rule.clone());
                out.push(e);
            }
            Event::ManuallyApproved(Intervention { by, reason, .. })
            | Event::ManuallyRejected(Intervention { by, reason, .. }) => {
                let approved = matches!(envelope.event, Event::ManuallyApproved(_));
                let mut e = entry("manual", by, "person", None, &[]);
                e.verdict = Some(if approved { "approve" } else { "major_flaw" });
                e.decision = Some(if approved { "promote" } else { "rollback" }.into());
                e.rule = Some(format!("manual gate: {reason}"));
                out.push(e);
            }
            _ => {}
        }
    }
    out
}
