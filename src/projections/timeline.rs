//! One deployment's events as a timeline people read (`deployflow show`).

use crate::events::payloads::{
    AnalysisCompleted, AnalysisMeasured, AnalysisStarted, Answer, Drained, FixAttempted,
    GreenHealthy, GreenStarted, GreenUnhealthy, Intervention, IssueClosed, IssuesReferenced,
    ReportCommitted, ReportWritten, SynthesisRecorded, VerdictRecorded,
};
use crate::events::{Envelope, Event};
use crate::flow::evidence::{counted, failing_tests};

/// A line per event: time since the start, the kind and what it says.
pub fn lines(events: &[Envelope]) -> Vec<String> {
    let Some(start) = events.first().map(|e| e.recorded_at) else {
        return Vec::new();
    };
    events
        .iter()
        .map(|e| {
            let at = (e.recorded_at - start).num_milliseconds();
            format!(
                "{:>8} ms  {:<24} {}",
                at,
                e.event.kind().name(),
                describe(&e.event)
            )
        })
        .collect()
}

/// The event in a few words.
pub fn describe(event: &Event) -> String {
    match event {
        Event::DeploymentRequested {
            app, release, blue, ..
        } => match blue {
            Some(blue) => format!(
                "{app} {release}, beside {} in {}",
                blue.release,
                blue.slot.name()
            ),
            None => format!("{app} {release}, first deploy"),
        },
        Event::InputsValidated { checked } => format!("{} inputs checked", checked.len()),
        Event::InputsRejected { missing } => missing
            .iter()
            .map(|m| format!("{}: {}", m.item, m.reason))
            .collect::<Vec<_>>()
            .join("; "),
        Event::GreenDeployIntended {
            slot,
            release,
            attempt,
        } => {
            format!("{release} into {} (attempt {attempt})", slot.name())
        }
        Event::GreenStarted(GreenStarted {
            endpoint,
            instance,
            digest,
            ..
        }) => match digest {
            Some(digest) => format!(
                "{instance} on {endpoint}, code {}",
                digest.get(..12).unwrap_or(digest)
            ),
            None => format!("{instance} on {endpoint}"),
        },
        Event::GreenHealthy(GreenHealthy {
            checks, elapsed_ms, ..
        }) => {
            format!(
                "healthy after {}, {elapsed_ms} ms",
                counted(u64::from(*checks), "check", "checks")
            )
        }
        Event::GreenUnhealthy(GreenUnhealthy { diagnosis, .. }) => {
            diagnosis.lines().next().unwrap_or_default().to_string()
        }
        Event::FixAttempted(FixAttempted {
            tier,
            attempt,
            action,
            outcome,
            ..
        }) => {
            format!(
                "{} tier, attempt {attempt}: {action} ({})",
                tier.words(),
                outcome.words()
            )
        }
        Event::Escalated { from, to, reason } => {
            format!("{} -> {}: {reason}", from.words(), to.words())
        }
        Event::TestRunIntended {
            command,
            target_url,
        } => format!("{command} against {target_url}"),
        Event::TestRunCompleted(run) => {
            let failing = failing_tests(&run.output_tail);
            let named = if run.failed > 0 && !failing.is_empty() {
                format!(" ({})", failing.join(", "))
            } else {
                String::new()
            };
            format!(
                "{} passed, {} failed{named}, {} skipped in {} ms",
                run.passed, run.failed, run.skipped, run.duration_ms
            )
        }
        Event::ReviewRequested { round, members } => {
            format!("round {round}: {}", members.join(", "))
        }
        Event::VerdictRecorded(VerdictRecorded {
            role,
            member,
            answer: Answer {
                verdict, findings, ..
            },
            ..
        }) => {
            format!(
                "{} {member}: {} ({})",
                role.words(),
                verdict.words(),
                counted(findings.len() as u64, "finding", "findings")
            )
        }
        Event::SynthesisRecorded(SynthesisRecorded {
            member,
            answer: Answer { verdict, .. },
            ..
        }) => format!("{member}: {}", verdict.words()),
        Event::DecisionMade { decision, rule, .. } => format!("{}: {rule}", decision.words()),
        Event::ManuallyApproved(Intervention { by, .. }) => format!("by {by}"),
        Event::ManuallyRejected(Intervention { by, reason, .. }) => format!("by {by}: {reason}"),
        Event::TrafficSwitched { from, to, endpoint } => format!(
            "{} -> {} ({endpoint})",
            from.map_or("none", |s| s.name()),
            to.name()
        ),
        Event::Drained(Drained {
            slot,
            remaining,
            waited_ms,
            timed_out,
        }) => format!(
            "{}: {remaining} left after {waited_ms} ms{}",
            slot.name(),
            if *timed_out { " (timed out)" } else { "" }
        ),
        Event::BlueStopped {
            slot,
            release,
            retained,
        } => format!(
            "{release} in {}{}",
            slot.name(),
            if *retained { ", retained" } else { "" }
        ),
        Event::ReportWritten(ReportWritten { path, .. }) => path.clone(),
        Event::IssuesClosed { issues } => issue_list(issues),
        Event::GreenStopped { slot, release } => format!("{release} in {}", slot.name()),
        Event::ReportCommitted(ReportCommitted {
            commit,
            branch,
            pushed,
            notes,
        }) => match commit {
            Some(commit) => format!(
                "{commit} on {}{}",
                branch.as_deref().unwrap_or("HEAD"),
                if *pushed { ", pushed" } else { "" }
            ),
            None => format!("not committed: {}", notes.join("; ")),
        },
        Event::IssuesReferenced(IssuesReferenced {
            issues, commits, ..
        }) => format!(
            "{} in {}",
            issue_list(issues),
            counted(u64::from(*commits), "commit", "commits")
        ),
        Event::IssueClosed(IssueClosed {
            issue,
            outcome,
            detail,
        }) => format!("#{issue}: {}: {detail}", outcome.words()),
        Event::CompletionStepFailed { step, reason } => format!("{step}: {reason}"),
        Event::Completed { outcome } => outcome.words(),
        Event::RollbackStarted { reason, .. } => reason.clone(),
        Event::RollbackCompleted { live_release, .. } => {
            format!("live: {}", live_release.as_deref().unwrap_or("nothing"))
        }
        Event::RollbackFailed { reason } => reason.clone(),
        Event::EffectStarted { effect } => effect.clone(),
        Event::ReturnedToDevelopment { reason, .. } => reason.clone(),
        Event::Aborted(Intervention { by, reason, .. }) => format!("by {by}: {reason}"),
        Event::Failed { reason } => reason.clone(),
        Event::BlueKept { waited_ms } => format!("blue kept {waited_ms} ms after the switch"),
        Event::WeightSet { percent } => format!("green takes {percent} % of the traffic"),
        Event::StepStarted { index, step } => format!("step {}: {}", index + 1, step.describe()),
        Event::StepCompleted { index, detail } => format!("step {}: {detail}", index + 1),
        Event::AlertReceived(alert) => format!(
            "{}: {}",
            alert.status,
            alert
                .alerts
                .iter()
                .map(|a| format!("{} ({})", a.name, a.summary))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::AnalysisStarted(AnalysisStarted { name, phase, run }) => {
            format!("{name} ({}, run {run})", phase.name())
        }
        Event::AnalysisMeasured(AnalysisMeasured {
            metric,
            index,
            value,
            verdict,
            detail,
            ..
        }) => format!("{metric} #{index} = {value}: {} ({detail})", verdict.name()),
        Event::AnalysisCompleted(AnalysisCompleted {
            name,
            verdict,
            reason,
            ..
        }) => format!("{name}: {}: {reason}", verdict.name()),
    }
}

/// Issue numbers as people write them: `#3, #7`.
fn issue_list(issues: &[u64]) -> String {
    let listed: Vec<String> = issues.iter().map(|i| format!("#{i}")).collect();
    listed.join(", ")
}
