//! The deployment report (DESIGN.md, Phase 5): deployment notes, test
//! results, issues encountered and how they were resolved, the review and
//! any rollback. Rendered from a deployment's events alone, so `deployflow
//! report ID` regenerates exactly what the completion wrote.

use crate::events::payloads::{
    Answer, FixAttempted, GreenUnhealthy, Intervention, IssueClosed, ReportCommitted,
    SynthesisRecorded, VerdictRecorded,
};
use std::fmt::Write;

use super::phases;
use crate::events::{Envelope, Event};
use crate::flow::Deployment;

pub fn render(id: &str, events: &[Envelope]) -> String {
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let mut out = String::new();
    let started = events.first().map(|e| e.recorded_at);
    let ended = events.last().map(|e| e.recorded_at);
    let _ = writeln!(out, "# Deployment of {} {}\n", state.app, state.release);
    if let Some(reason) = super::model::reason_of(events) {
        let _ = writeln!(out, "**Why:** {reason}\n");
    }
    let _ = writeln!(out, "## Deployment notes\n");
    let _ = writeln!(out, "- Deployment: `{id}`");
    let _ = writeln!(out, "- Status: {}", status(&state));
    if let Some(Event::DeploymentRequested {
        requested_by,
        commit,
        ..
    }) = events.first().map(|e| &e.event)
    {
        let at = started.map(|t| t.to_rfc3339()).unwrap_or_default();
        let _ = writeln!(out, "- Requested by {requested_by} at {at}");
        if let Some(commit) = commit {
            let _ = writeln!(out, "- Commit: {commit}");
        }
    }
    match &state.blue {
        Some(blue) => {
            let _ = writeln!(
                out,
                "- From {} (slot {}) to {} (slot {})",
                blue.release,
                blue.slot.name(),
                state.release,
                state.green_slot.name()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- First deploy of {}: {} in slot {}",
                state.app,
                state.release,
                state.green_slot.name()
            );
        }
    }
    if let Some(why) = ending_reason(events) {
        let _ = writeln!(out, "- Why: {why}");
    }
    if let (Some(start), Some(end)) = (started, ended) {
        let _ = writeln!(
            out,
            "- Took {} ms, from {} to {}",
            (end - start).num_milliseconds(),
            start.to_rfc3339(),
            end.to_rfc3339()
        );
    }

    let _ = writeln!(out, "\n## Test results\n");
    let mut runs = 0;
    for event in events.iter().map(|e| &e.event) {
        if let Event::TestRunCompleted(crate::events::payloads::TestRunCompleted {
            passed,
            failed,
            skipped,
            duration_ms,
            exit_code,
            ..
        }) = event
        {
            runs += 1;
            let exit = exit_code.map_or("killed".to_string(), |c| format!("exit {c}"));
            let _ = writeln!(
                out,
                "- Run {runs}: {passed} passed, {failed} failed, {skipped} skipped in {duration_ms} ms ({exit})"
            );
        }
    }
    if runs == 0 {
        let _ = writeln!(out, "- No test run.");
    }

    let _ = writeln!(out, "\n## Issues encountered and resolutions\n");
    let mut issues = 0;
    for event in events.iter().map(|e| &e.event) {
        let line = match event {
            Event::GreenUnhealthy(GreenUnhealthy { diagnosis, .. }) => {
                Some(format!("Green was not healthy: {}", first_line(diagnosis)))
            }
            Event::FixAttempted(FixAttempted {
                tier,
                attempt,
                action,
                outcome,
                patches,
                ..
            }) => {
                let mut line = format!(
                    "Fix {attempt} at the {} tier: {action} ({})",
                    tier.words(),
                    outcome.words()
                );
                for patch in patches {
                    let status = if patch.applied {
                        "applied"
                    } else {
                        "not applied"
                    };
                    // Indented under the item, in a fence longer than the
                    // longest run of backticks in the diff.
                    let fence = "`".repeat(longest_backtick_run(&patch.diff).max(2) + 1);
                    let _ = write!(
                        line,
                        "\n\n  {}'s patch ({status}):\n\n  {fence}diff\n{}\n  {fence}",
                        patch.member,
                        patch
                            .diff
                            .trim_end()
                            .lines()
                            .map(|l| format!("  {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                }
                Some(line)
            }
            Event::Escalated { from, to, reason } => Some(format!(
                "Escalated from {} to {}: {reason}",
                from.words(),
                to.words()
            )),
            Event::TestRunCompleted(run) if run.failed > 0 => {
                let failing = crate::flow::evidence::failing_tests(&run.output_tail);
                let count = crate::flow::evidence::counted(u64::from(run.failed), "test", "tests");
                Some(match failing.as_slice() {
                    [] => format!("{count} failed"),
                    names => format!("{count} failed: {}", names.join(", ")),
                })
            }
            Event::DecisionMade { round, rule, .. } => {
                Some(format!("Review round {round}: {rule}"))
            }
            Event::RollbackStarted { reason, .. } => Some(format!("Rollback: {reason}")),
            Event::ReturnedToDevelopment { reason, .. } => {
                Some(format!("Returned to development: {reason}"))
            }
            Event::Failed { reason } => Some(format!("Failed: {reason}")),
            Event::Aborted(Intervention { by, reason, .. }) => {
                Some(format!("Aborted by {by}: {reason}"))
            }
            _ => None,
        };
        if let Some(line) = line {
            issues += 1;
            let _ = writeln!(out, "- {line}");
        }
    }
    if issues == 0 {
        let _ = writeln!(
            out,
            "- None: green was healthy, the tests passed and the review approved at the first try."
        );
    }

    let _ = writeln!(out, "\n## Review\n");
    let mut any = false;
    for event in events.iter().map(|e| &e.event) {
        match event {
            Event::VerdictRecorded(VerdictRecorded {
                round,
                role,
                member,
                answer:
                    Answer {
                        verdict,
                        summary,
                        findings,
                        ..
                    },
                ..
            }) => {
                any = true;
                let _ = writeln!(
                    out,
                    "- Round {round}, {} `{member}`: {}: {summary} ({})",
                    role.words(),
                    verdict.words(),
                    crate::flow::evidence::counted(findings.len() as u64, "finding", "findings")
                );
            }
            Event::SynthesisRecorded(SynthesisRecorded {
                round,
                answer: Answer {
                    verdict, summary, ..
                },
                ..
            }) => {
                any = true;
                let _ = writeln!(
                    out,
                    "- Round {round}, synthesis: {}: {summary}",
                    verdict.words()
                );
            }
            Event::ManuallyApproved(Intervention { by, reason, .. }) => {
                let _ = writeln!(out, "- Approved at the manual gate by {by}: {reason}");
            }
            Event::ManuallyRejected(Intervention { by, reason, .. }) => {
                let _ = writeln!(out, "- Rejected at the manual gate by {by}: {reason}");
            }
            _ => {}
        }
    }
    if !any {
        let _ = writeln!(out, "- No review took place.");
    }
    canary(&mut out, &state, events);
    analysis(&mut out, events);
    efficiency(&mut out, &state, events);
    completion(&mut out, events);
    out
}

/// Each analysis run, the rule that ended it, and every measurement.
/// A canary's steps as they ran: when each started, how it ended (the
/// weight taken, the pause held, who approved, the analysis' verdict), and
/// the steps never reached.
fn canary(out: &mut String, state: &Deployment, events: &[Envelope]) {
    let steps = &state.policy.steps;
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Canary\n");
    let start = events.first().map(|e| e.recorded_at);
    let at =
        |when: chrono::DateTime<chrono::Utc>| start.map_or(0, |s| (when - s).num_milliseconds());
    let _ = writeln!(out, "| # | step | started | ended |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for (i, step) in steps.iter().enumerate() {
        let index = i as u32;
        let started = events
            .iter()
            .find(|e| matches!(&e.event, Event::StepStarted { index: n, .. } if *n == index));
        let ended = events.iter().find_map(|e| match &e.event {
            Event::StepCompleted { index: n, detail } if *n == index => {
                Some(format!("{detail} (+{} ms)", at(e.recorded_at)))
            }
            _ => None,
        });
        let (started, ended) = match started {
            Some(e) => (
                format!("+{} ms", at(e.recorded_at)),
                ended.unwrap_or_else(|| "did not end".into()),
            ),
            None => ("not reached".into(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {started} | {} |",
            i + 1,
            step.describe(),
            ended.replace('|', "\\|")
        );
    }
}

fn analysis(out: &mut String, events: &[Envelope]) {
    let runs = super::analyses::runs(events);
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Analysis\n");
    for run in &runs {
        let ending = match (&run.verdict, &run.reason) {
            (Some(verdict), Some(reason)) => format!("{verdict}: {reason}"),
            _ => "did not end".into(),
        };
        let _ = writeln!(
            out,
            "- `{}` ({}, run {}): {ending}\n",
            run.name, run.phase, run.run
        );
        let _ = writeln!(out, "  | metric | # | value | baseline | verdict | why |");
        let _ = writeln!(out, "  | --- | --- | --- | --- | --- | --- |");
        for m in &run.measurements {
            let baseline = m
                .baseline
                .as_ref()
                .map(|b| b.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  | {} | {} | {} | {baseline} | {} | {} |",
                m.metric,
                m.index,
                m.value,
                m.verdict,
                m.detail.replace('|', "\\|").replace('\n', " ")
            );
        }
        let _ = writeln!(out);
    }
}

/// The status line: the ending a completion in progress is recording, so
/// the report written before `completed` already says how it ended.
fn status(state: &Deployment) -> String {
    let outcome = state.outcome().or(state.completing_as());
    super::history::status_name(outcome).to_string()
}

/// Why a deployment that did not go live ended, or why it was rolled back.
fn ending_reason(events: &[Envelope]) -> Option<String> {
    events.iter().rev().find_map(|e| match &e.event {
        Event::RollbackStarted { reason, .. } => Some(format!("rolled back: {reason}")),
        Event::ReturnedToDevelopment { reason, .. } => {
            Some(format!("returned to development: {reason}"))
        }
        Event::Aborted(Intervention { by, reason, .. }) => {
            Some(format!("aborted by {by}: {reason}"))
        }
        Event::Failed { reason } => Some(format!("failed: {reason}")),
        Event::InputsRejected { missing } => Some(format!(
            "rejected at prepare: {}",
            missing
                .iter()
                .map(|m| format!("{}: {}", m.item, m.reason))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        _ => None,
    })
}

fn efficiency(out: &mut String, state: &Deployment, events: &[Envelope]) {
    let _ = writeln!(out, "\n## Duration and efficiency\n");
    // Each phase once, in the order first entered: a fix loop goes back
    // and forth between prepare and fix.
    let mut totals: Vec<(&str, i64, u32)> = Vec::new();
    for span in phases::spans(events) {
        match totals.iter_mut().find(|(phase, ..)| *phase == span.phase) {
            Some((_, ms, times)) => {
                *ms += span.duration_ms;
                *times += 1;
            }
            None => totals.push((span.phase, span.duration_ms, 1)),
        }
    }
    for (phase, ms, times) in totals {
        let visits = if times > 1 {
            format!(" over {times} visits")
        } else {
            String::new()
        };
        let _ = writeln!(out, "- {phase}: {ms} ms{visits}");
    }
    let _ = writeln!(
        out,
        "- Deploy attempts: {}; fix attempts: {} (driver {}, senior {}, trio {}); review rounds: {}",
        state.deploy_attempt,
        state.fixes.total(),
        state.fixes.driver,
        state.fixes.senior,
        state.fixes.trio,
        state.round
    );
    let (mut tokens_in, mut tokens_out, mut calls) = (0u64, 0u64, 0u32);
    for event in events.iter().map(|e| &e.event) {
        if let Event::VerdictRecorded(VerdictRecorded {
            answer: Answer {
                usage: Some(usage), ..
            },
            ..
        })
        | Event::SynthesisRecorded(SynthesisRecorded {
            answer: Answer {
                usage: Some(usage), ..
            },
            ..
        }) = event
        {
            tokens_in += usage.tokens_in;
            tokens_out += usage.tokens_out;
            calls += usage.attempts;
        }
    }
    if calls > 0 {
        let _ = writeln!(
            out,
            "- Model reviewers: {calls} calls, {tokens_in} tokens in, {tokens_out} tokens out"
        );
    }
}

/// The completion's side effects, once they happened (`deployflow report`
/// regenerating a finished deployment's report shows them).
fn completion(out: &mut String, events: &[Envelope]) {
    let lines: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ReportCommitted(ReportCommitted {
                commit: Some(commit),
                branch,
                pushed,
                notes,
            }) => Some(format!(
                "Report committed as {commit} on {}{}{}",
                branch.as_deref().unwrap_or("HEAD"),
                if *pushed { ", pushed" } else { "" },
                notes.iter().map(|n| format!("; {n}")).collect::<String>()
            )),
            Event::ReportCommitted(ReportCommitted {
                commit: None,
                notes,
                ..
            }) => Some(format!("Report {}", notes.join("; "))),
            Event::IssueClosed(IssueClosed {
                issue,
                outcome,
                detail,
            }) => Some(format!("Issue #{issue}: {}: {detail}", outcome.name())),
            Event::CompletionStepFailed { step, reason } => {
                Some(format!("{step} did not work: {reason}"))
            }
            _ => None,
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Completion\n");
    for line in lines {
        let _ = writeln!(out, "- {line}");
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Backticks in a row at most in `text`, so a fence around it can be longer.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
