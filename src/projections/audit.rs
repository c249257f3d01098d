//! The review audit of one deployment: every verdict and decision in order,
//! with DESIGN.md's `--json` field names.

use crate::events::payloads::{SynthesisRecorded, VerdictRecorded};
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
    /// A model or command reviewer's tokens, latency, reported model and
    /// prompt hash; absent for built-in members and decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
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
            usage: None,
        };
        match &envelope.event {
            Event::ReviewRequested { round: r, .. } => round = *r,
            Event::VerdictRecorded(VerdictRecorded {
                role,
                member,
                model,
                verdict,
                findings,
                usage,
                ..
            }) => out.push(AuditEntry {
                usage: usage.clone(),
                ..entry(role.name(), member, model, Some(verdict.name()), findings)
            }),
            Event::SynthesisRecorded(SynthesisRecorded {
                member,
                model,
                verdict,
                findings,
                usage,
                ..
            }) => out.push(AuditEntry {
                usage: usage.clone(),
                ..entry("senior", member, model, Some(verdict.name()), findings)
            }),
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
            Event::ManuallyApproved { by, reason } | Event::ManuallyRejected { by, reason } => {
                let approved = matches!(envelope.event, Event::ManuallyApproved { .. });
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
