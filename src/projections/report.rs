//! The deployment report (DESIGN.md, Phase 5): deployment notes, test
//! results, issues encountered and how they were resolved, the review and
//! any rollback. Rendered from a deployment's events alone, so `deployflow
//! report ID` regenerates exactly what the completion wrote.

use std::fmt::Write;

use crate::events::{Envelope, Event};
use crate::flow::Deployment;

pub fn render(id: &str, events: &[Envelope]) -> String {
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let mut out = String::new();
    let started = events.first().map(|e| e.recorded_at);
    let ended = events.last().map(|e| e.recorded_at);
    let _ = writeln!(out, "# Deployment of {} {}\n", state.app, state.release);
    let _ = writeln!(out, "## Deployment notes\n");
    let _ = writeln!(out, "- Deployment: `{id}`");
    let status = state.outcome().map_or("in progress".to_string(), |o| {
        format!("{o:?}").to_lowercase()
    });
    let _ = writeln!(out, "- Status: {status}");
    if let (Some(start), Some(end)) = (started, ended) {
        let _ = writeln!(
            out,
            "- Started {} , last event {} ({} ms)",
            start.to_rfc3339(),
            end.to_rfc3339(),
            (end - start).num_milliseconds()
        );
    }
    match &state.blue {
        Some(blue) => {
            let _ = writeln!(
                out,
                "- Replaced {} (slot {}), retained for rollback",
                blue.release,
                blue.slot.name()
            );
        }
        None => {
            let _ = writeln!(out, "- First deploy of {}", state.app);
        }
    }
    let _ = writeln!(
        out,
        "- Green slot: {}, deploy attempts: {}, fix attempts: {} (driver {}, senior {}, trio {}), review rounds: {}",
        state.green_slot.name(),
        state.deploy_attempt,
        state.fixes.total(),
        state.fixes.driver,
        state.fixes.senior,
        state.fixes.trio,
        state.round
    );

    let _ = writeln!(out, "\n## Test results\n");
    let mut runs = 0;
    for event in events.iter().map(|e| &e.event) {
        if let Event::TestRunCompleted {
            passed,
            failed,
            skipped,
            duration_ms,
            exit_code,
            ..
        } = event
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
            Event::GreenUnhealthy { diagnosis, .. } => {
                Some(format!("Green was not healthy: {}", first_line(diagnosis)))
            }
            Event::FixAttempted {
                tier,
                attempt,
                action,
                outcome,
                patches,
                ..
            } => {
                let mut line =
                    format!("Fix {attempt} at the {tier:?} tier: {action} ({outcome:?})");
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
            Event::Escalated { from, to, reason } => {
                Some(format!("Escalated from {from:?} to {to:?}: {reason}"))
            }
            Event::TestRunCompleted { failed, .. } if *failed > 0 => {
                Some(format!("{failed} tests failed"))
            }
            Event::DecisionMade { round, rule, .. } => {
                Some(format!("Review round {round}: {rule}"))
            }
            Event::RollbackStarted { reason, .. } => Some(format!("Rollback: {reason}")),
            Event::ReturnedToDevelopment { reason, .. } => {
                Some(format!("Returned to development: {reason}"))
            }
            Event::Failed { reason } => Some(format!("Failed: {reason}")),
            Event::Aborted { by, reason } => Some(format!("Aborted by {by}: {reason}")),
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
            Event::VerdictRecorded {
                round,
                role,
                member,
                verdict,
                summary,
                findings,
                ..
            } => {
                any = true;
                let _ = writeln!(
                    out,
                    "- Round {round}, {role:?} `{member}`: {verdict:?}: {summary} ({} findings)",
                    findings.len()
                );
            }
            Event::SynthesisRecorded {
                round,
                verdict,
                summary,
                ..
            } => {
                any = true;
                let _ = writeln!(out, "- Round {round}, synthesis: {verdict:?}: {summary}");
            }
            Event::ManuallyApproved { by, reason } => {
                let _ = writeln!(out, "- Approved at the manual gate by {by}: {reason}");
            }
            Event::ManuallyRejected { by, reason } => {
                let _ = writeln!(out, "- Rejected at the manual gate by {by}: {reason}");
            }
            _ => {}
        }
    }
    if !any {
        let _ = writeln!(out, "- No review took place.");
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Backticks in a row at most in `text`, so a fence around it can be longer.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
