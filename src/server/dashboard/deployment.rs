//! One deployment's page: its phases with their durations, the fix
//! attempts by tier with their diagnoses and changes, the test runs, the
//! review rounds with every verdict and the rule each decision applied; and
//! the analyses with a chart per metric; and the manual gate, abort and
//! rollback, each asking for a reason.

use crate::events::payloads::{FixAttempted, GreenUnhealthy};
use maud::{Markup, PreEscaped, html};

use super::charts::{self, Measured};
use super::overview::seconds;
use crate::events::{Envelope, Event, Outcome};
use crate::flow::{Deployment, Phase};
use crate::projections::{analyses, audit, history, phases};

pub fn render(id: &str, events: &[Envelope]) -> Markup {
    let state = Deployment::fold(events.iter().map(|e| &e.event));
    let status = history::status_name(state.outcome());
    let at_gate = state.awaiting_approval();
    let before_switch = state.outcome().is_none() && !state.switched;
    let promoted = state.outcome() == Some(Outcome::Promoted);
    let spans = phases::spans(events);
    let entries = audit::entries(events);
    let rounds: std::collections::BTreeSet<u32> = entries.iter().map(|e| e.round).collect();
    html! {
        h1 { (state.app) " " (state.release) " " span class={ "status " (status) } { (status) } }
        @if let Some(reason) = crate::projections::model::reason_of(events) {
            p.why { b { "Why: " } (reason) }
        }
        p.muted { "deployment " code { (id) } }
        @if at_gate || before_switch || promoted {
            section {
                h2 { "Actions" }
                @if at_gate {
                    p { "Waiting at the manual gate." }
                    (action("approve", &format!("/api/deployments/{id}/approve"), "approve"))
                    (action("reject", &format!("/api/deployments/{id}/reject"), "reject"))
                }
                @if before_switch && !matches!(state.phase, Phase::Validating) {
                    (action("abort", &format!("/api/deployments/{id}/abort"), "abort"))
                }
                @if promoted {
                    (action("rollback", &format!("/api/apps/{}/rollback", state.app), "roll back"))
                }
            }
        }
        section {
            h2 { "Phases" }
            div.phases {
                @for span in &spans {
                    div class={ "phase" @if span.current { " current" } } {
                        b { (span.phase) } br; (seconds(span.duration_ms))
                    }
                }
            }
        }
        @let fixes: Vec<&Event> = events.iter().map(|e| &e.event).filter(|e| matches!(e, Event::FixAttempted(_) | Event::GreenUnhealthy(_) | Event::Escalated { .. })).collect();
        @if !fixes.is_empty() {
            section {
                h2 { "Fix loop" }
                @for event in fixes {
                    @match event {
                        Event::GreenUnhealthy(GreenUnhealthy { diagnosis, checks, elapsed_ms, .. }) => {
                            p { b { "Green unhealthy" } " after " (crate::flow::evidence::counted(u64::from(*checks), "check", "checks")) ", " (seconds(*elapsed_ms as i64)) ": " (diagnosis.lines().next().unwrap_or_default()) }
                            details { summary { "diagnosis" } pre { (diagnosis) } }
                        }
                        Event::FixAttempted(FixAttempted { tier, attempt, diagnosis, action, outcome, patches }) => {
                            p { b { (tier.words()) " tier, attempt " (attempt) ": " } (outcome.words()) }
                            p { (action) }
                            details { summary { "diagnosis" } pre { (diagnosis) } }
                            @for patch in patches {
                                details { summary { (patch.member) "'s change" @if patch.applied { " (applied)" } @else { " (not applied)" } } pre { (patch.diff) } }
                            }
                        }
                        Event::Escalated { from, to, reason } => {
                            p { b { "Escalated" } " from " (from.words()) " to " (to.words()) ": " (reason) }
                        }
                        _ => {}
                    }
                }
            }
        }
        @let runs: Vec<&Event> = events.iter().map(|e| &e.event).filter(|e| matches!(e, Event::TestRunCompleted(_))).collect();
        @if !runs.is_empty() {
            section {
                h2 { "Tests" }
                @for run in runs {
                    @if let Event::TestRunCompleted(crate::events::payloads::TestRunCompleted { passed, failed, skipped, duration_ms, exit_code, output_tail }) = run {
                        p {
                            b { (passed) " passed, " (failed) " failed, " (skipped) " skipped" }
                            " in " (seconds(*duration_ms as i64)) ", exit "
                            (exit_code.map_or("none".to_string(), |c| c.to_string()))
                        }
                        details { summary { "output" } pre { (output_tail) } }
                    }
                }
            }
        }
        (canary(id, &state, events))
        (analyses(events))
        @if !rounds.is_empty() {
            section {
                h2 { "Review" }
                @for round in &rounds {
                    h3 { "Round " (round) }
                    table {
                        tr { th { "role" } th { "member" } th { "verdict" } th { "findings" } }
                        @for entry in entries.iter().filter(|e| e.round == *round && e.verdict.is_some()) {
                            tr {
                                td { (entry.role) }
                                td { (entry.member) " " span.muted { (entry.model) } }
                                td { span class=(entry.verdict.unwrap_or_default()) { (entry.verdict.unwrap_or_default()) } }
                                td {
                                    @for finding in &entry.findings {
                                        div { (crate::flow::evidence::described(finding))
                                            @if let Some(requirement) = &finding.requirement { " (" (requirement) ")" } }
                                    }
                                }
                            }
                        }
                    }
                    @for entry in entries.iter().filter(|e| e.round == *round && e.decision.is_some()) {
                        p { b { "Decision: " (entry.decision.clone().unwrap_or_default()) } " — " (entry.rule.clone().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// A canary's steps, the one it is at marked, how each ended, and green's
/// weight over time; while it runs, `approve --full` (skip the rest).
fn canary(id: &str, state: &Deployment, events: &[Envelope]) -> Markup {
    let steps = &state.policy.steps;
    let start = events.first().map(|e| e.recorded_at);
    let since = |e: &Envelope| {
        start.map_or(0.0, |s| {
            (e.recorded_at - s).num_milliseconds() as f64 / 1000.0
        })
    };
    let mut weights: Vec<(f64, u8)> = Vec::new();
    for envelope in events {
        match &envelope.event {
            Event::StepStarted { index: 0, .. } => weights.push((since(envelope), 0)),
            Event::WeightSet { percent } => weights.push((since(envelope), *percent)),
            Event::TrafficSwitched { .. } if !weights.is_empty() => {
                weights.push((since(envelope), 100))
            }
            _ => {}
        }
    }
    let ended = |index: u32| {
        events.iter().find_map(|e| match &e.event {
            Event::StepCompleted { index: n, detail } if *n == index => Some(detail.clone()),
            _ => None,
        })
    };
    let at = state.canary.as_ref().map(|c| c.index);
    html! {
        @if !steps.is_empty() {
            section {
                h2 { "Canary" }
                p {
                    @match state.weight {
                        Some(weight) => { "Green takes " b { (weight) " %" } " of the traffic." }
                        None => { @if state.switched { "Green took all of the traffic." } @else { "Blue takes all of the traffic." } }
                    }
                }
                @if state.in_canary() {
                    (action_full(&format!("/api/deployments/{id}/approve")))
                }
                table {
                    tr { th { "#" } th { "step" } th { "" } }
                    @for (i, step) in steps.iter().enumerate() {
                        @let index = i as u32;
                        @let current = at == Some(index) && ended(index).is_none();
                        tr class=[current.then_some("current")] {
                            td { (i + 1) }
                            td { @if current { b { (step.describe()) } } @else { (step.describe()) } }
                            td {
                                @if let Some(detail) = ended(index) { (detail) }
                                @else if current { @if state.outcome().is_none() { "now" } @else { "stopped here" } }
                                @else if at.is_some_and(|a| index < a) { "skipped" }
                            }
                        }
                    }
                }
                @if !weights.is_empty() {
                    div.charts { (PreEscaped(charts::weight(&weights))) }
                }
            }
        }
    }
}

/// The form of `approve --full`.
fn action_full(url: &str) -> Markup {
    html! {
        form.action data-url=(url) data-action="approve-full" data-full="1" {
            input type="text" name="reason" placeholder="reason to skip the remaining steps" required;
            button type="submit" { "approve --full" }
            span.result {}
        }
    }
}

/// Every analysis run: how it ended and why, and each metric drawn over
/// its measurements with their verdicts (the page is live, so a running
/// analysis grows as it is measured).
fn analyses(events: &[Envelope]) -> Markup {
    let runs = analyses::runs(events);
    html! {
        @if !runs.is_empty() {
            section {
                h2 { "Analysis" }
                @for run in &runs {
                    h3 {
                        (run.name) " " span.muted { (run.phase.replace('_', "-")) ", run " (run.run) } " "
                        @let verdict = run.verdict.unwrap_or("running");
                        span class={ "status " (verdict) } { (verdict) }
                    }
                    @if let Some(reason) = &run.reason { p { (reason) } }
                    div.charts {
                        @for metric in metrics(run) {
                            @let points: Vec<Measured> = run.measurements.iter().filter(|m| m.metric == metric).map(|m| {
                                let (value, baseline) = m.plotted();
                                Measured { index: m.index, value, baseline, verdict: m.verdict }
                            }).collect();
                            (PreEscaped(charts::measurements(&metric, &points)))
                        }
                    }
                    details {
                        summary { (run.measurements.len()) " measurements" }
                        table {
                            tr { th { "metric" } th { "#" } th { "value" } th { "verdict" } th { "why" } }
                            @for m in &run.measurements {
                                tr {
                                    td { (m.metric) } td { (m.index) } td { code { (m.value) } }
                                    td { span class=(m.verdict) { (m.verdict) } } td { (m.detail) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A run's metrics in the order they were first measured.
fn metrics(run: &analyses::Run) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for m in &run.measurements {
        if !seen.contains(&m.metric) {
            seen.push(m.metric.clone());
        }
    }
    seen
}

/// A form that posts `{by, reason}` to `url` (the script sends it).
fn action(name: &str, url: &str, label: &str) -> Markup {
    html! {
        form.action data-url=(url) data-action=(name) {
            input type="text" name="reason" placeholder={ "reason to " (label) } required;
            button type="submit" { (label) }
            span.result {}
        }
    }
}
