//! proptest strategies for events: every kind, with arbitrary field values.

use super::payloads::{
    Answer, Drained, FixAttempted, GreenHealthy, GreenStarted, GreenUnhealthy, Intervention,
    IssueClosed, IssuesReferenced, ReportCommitted, ReportWritten, SynthesisRecorded,
    VerdictRecorded,
};
use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use super::{
    Decision, Event, Finding, FixOutcome, IssueOutcome, LiveRelease, MissingInput, Outcome, Patch,
    Role, Severity, Slot, Tier, Usage, Verdict,
};

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap_or_default())
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![Just(Slot::Blue), Just(Slot::Green)]
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Driver), Just(Tier::Senior), Just(Tier::Trio)]
}

fn issue_outcome() -> impl Strategy<Value = IssueOutcome> {
    prop_oneof![
        Just(IssueOutcome::Closed),
        Just(IssueOutcome::AlreadyClosed),
        Just(IssueOutcome::Skipped),
        Just(IssueOutcome::Failed)
    ]
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Approve),
        Just(Verdict::FixesNeeded),
        Just(Verdict::MajorFlaw),
        Just(Verdict::Abstain)
    ]
}

fn patches() -> impl Strategy<Value = Vec<Patch>> {
    proptest::collection::vec(
        (text(), any::<bool>(), text()).prop_map(|(member, applied, diff)| Patch {
            member,
            applied,
            diff,
        }),
        0..3,
    )
}

fn answer() -> impl Strategy<Value = Answer> {
    (text(), verdict(), text(), findings(), usage()).prop_map(
        |(model, verdict, summary, findings, usage)| Answer {
            model,
            verdict,
            summary,
            findings,
            usage,
        },
    )
}

fn usage() -> impl Strategy<Value = Option<Usage>> {
    option::of(
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            text(),
            text(),
            any::<u32>(),
        )
            .prop_map(
                |(tokens_in, tokens_out, latency_ms, model_reported, prompt_sha256, attempts)| {
                    Usage {
                        tokens_in,
                        tokens_out,
                        latency_ms,
                        model_reported,
                        prompt_sha256,
                        attempts,
                    }
                },
            ),
    )
}

fn findings() -> impl Strategy<Value = Vec<Finding>> {
    let severity = prop_oneof![
        Just(Severity::Critical),
        Just(Severity::High),
        Just(Severity::Medium),
        Just(Severity::Low)
    ];
    let finding = (
        severity,
        option::of(text()),
        option::of(text()),
        option::of(any::<u32>()),
        text(),
    )
        .prop_map(|(severity, requirement, file, line, message)| Finding {
            severity,
            requirement,
            file,
            line,
            message,
        });
    vec(finding, 0..3)
}

pub fn event() -> impl Strategy<Value = Event> {
    let role = prop_oneof![
        Just(Role::Trio),
        Just(Role::Senior),
        Just(Role::Junior),
        Just(Role::Manual)
    ];
    let decision = prop_oneof![
        Just(Decision::Promote),
        Just(Decision::AwaitManualApproval),
        Just(Decision::FixesNeeded),
        Just(Decision::ReturnToDevelopment),
        Just(Decision::Rollback)
    ];
    let fix_outcome = prop_oneof![
        Just(FixOutcome::Applied),
        Just(FixOutcome::NotApplied),
        Just(FixOutcome::GaveUp)
    ];
    let outcome = prop_oneof![
        Just(Outcome::Promoted),
        Just(Outcome::RolledBack),
        Just(Outcome::Returned),
        Just(Outcome::Rejected),
        Just(Outcome::Failed),
        Just(Outcome::Aborted)
    ];
    let missing = (text(), text()).prop_map(|(item, reason)| MissingInput { item, reason });
    prop_oneof![
        (
            text(),
            text(),
            text(),
            text(),
            option::of(text()),
            option::of(text()),
            option::of(time()),
            option::of((slot(), text(), text(), option::of(text()))),
            option::of(text()),
        )
            .prop_map(
                |(
                    app,
                    release,
                    requested_by,
                    config,
                    rollback_to,
                    commit,
                    committed_at,
                    blue,
                    base_dir,
                )| {
                    Event::DeploymentRequested {
                        app,
                        release,
                        requested_by,
                        config,
                        rollback_to,
                        commit,
                        committed_at,
                        blue: blue.map(|(slot, release, endpoint, deployment)| LiveRelease {
                            slot,
                            release,
                            endpoint,
                            deployment,
                        }),
                        base_dir,
                    }
                }
            ),
        vec(text(), 0..4).prop_map(|checked| Event::InputsValidated { checked }),
        vec(missing, 0..3).prop_map(|missing| Event::InputsRejected { missing }),
        (slot(), text(), any::<u32>()).prop_map(|(slot, release, attempt)| {
            Event::GreenDeployIntended {
                slot,
                release,
                attempt,
            }
        }),
        (slot(), text(), text(), proptest::option::of(text())).prop_map(
            |(slot, endpoint, instance, digest)| Event::GreenStarted(GreenStarted {
                slot,
                endpoint,
                instance,
                digest,
            })
        ),
        (slot(), text(), any::<u32>(), any::<u64>()).prop_map(
            |(slot, endpoint, checks, elapsed_ms)| {
                Event::GreenHealthy(GreenHealthy {
                    slot,
                    endpoint,
                    checks,
                    elapsed_ms,
                })
            }
        ),
        (slot(), any::<u32>(), any::<u64>(), text()).prop_map(
            |(slot, checks, elapsed_ms, diagnosis)| {
                Event::GreenUnhealthy(GreenUnhealthy {
                    slot,
                    checks,
                    elapsed_ms,
                    diagnosis,
                })
            }
        ),
        (tier(), any::<u32>(), text(), text(), fix_outcome, patches()).prop_map(
            |(tier, attempt, diagnosis, action, outcome, patches)| Event::FixAttempted(
                FixAttempted {
                    tier,
                    attempt,
                    diagnosis,
                    action,
                    outcome,
                    patches,
                }
            )
        ),
        (tier(), tier(), text()).prop_map(|(from, to, reason)| Event::Escalated {
            from,
            to,
            reason
        }),
        (text(), text()).prop_map(|(command, target_url)| Event::TestRunIntended {
            command,
            target_url
        }),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            option::of(any::<i32>()),
            text()
        )
            .prop_map(
                |(passed, failed, skipped, duration_ms, exit_code, output_tail)| {
                    Event::TestRunCompleted(super::payloads::TestRunCompleted {
                        passed,
                        failed,
                        skipped,
                        duration_ms,
                        exit_code,
                        output_tail,
                    })
                }
            ),
        (any::<u32>(), vec(text(), 0..4))
            .prop_map(|(round, members)| Event::ReviewRequested { round, members }),
        (any::<u32>(), role, text(), answer()).prop_map(|(round, role, member, answer)| {
            Event::VerdictRecorded(VerdictRecorded {
                round,
                role,
                member,
                answer,
            })
        }),
        (any::<u32>(), text(), answer()).prop_map(|(round, member, answer)| {
            Event::SynthesisRecorded(SynthesisRecorded {
                round,
                member,
                answer,
            })
        }),
        (any::<u32>(), decision, text()).prop_map(|(round, decision, rule)| Event::DecisionMade {
            round,
            decision,
            rule
        }),
        (text(), text())
            .prop_map(|(by, reason)| Event::ManuallyApproved(Intervention::by(by, reason))),
        (text(), text())
            .prop_map(|(by, reason)| Event::ManuallyRejected(Intervention::by(by, reason))),
        (option::of(slot()), slot(), text())
            .prop_map(|(from, to, endpoint)| Event::TrafficSwitched { from, to, endpoint }),
        (slot(), any::<u32>(), any::<u64>(), any::<bool>()).prop_map(
            |(slot, remaining, waited_ms, timed_out)| {
                Event::Drained(Drained {
                    slot,
                    remaining,
                    waited_ms,
                    timed_out,
                })
            }
        ),
        (slot(), text(), any::<bool>()).prop_map(|(slot, release, retained)| Event::BlueStopped {
            slot,
            release,
            retained
        }),
        (text(), text())
            .prop_map(|(path, sha256)| Event::ReportWritten(ReportWritten { path, sha256 })),
        vec(any::<u64>(), 0..4).prop_map(|issues| Event::IssuesClosed { issues }),
        outcome.prop_map(|outcome| Event::Completed { outcome }),
        (slot(), text()).prop_map(|(slot, release)| Event::GreenStopped { slot, release }),
        (
            option::of(text()),
            option::of(text()),
            any::<bool>(),
            vec(text(), 0..3)
        )
            .prop_map(|(commit, branch, pushed, notes)| Event::ReportCommitted(
                ReportCommitted {
                    commit,
                    branch,
                    pushed,
                    notes
                }
            )),
        (vec(any::<u64>(), 0..4), any::<u32>(), option::of(text())).prop_map(
            |(issues, commits, since)| Event::IssuesReferenced(IssuesReferenced {
                issues,
                commits,
                since
            })
        ),
        (any::<u64>(), issue_outcome(), text()).prop_map(|(issue, outcome, detail)| {
            Event::IssueClosed(IssueClosed {
                issue,
                outcome,
                detail,
            })
        }),
        (text(), text()).prop_map(|(step, reason)| Event::CompletionStepFailed { step, reason }),
        (text(), any::<bool>(), option::of(text())).prop_map(
            |(reason, after_promotion, to_release)| {
                Event::RollbackStarted {
                    reason,
                    after_promotion,
                    to_release,
                }
            }
        ),
        (option::of(text()), option::of(slot())).prop_map(|(live_release, live_slot)| {
            Event::RollbackCompleted {
                live_release,
                live_slot,
            }
        }),
        (text(), findings())
            .prop_map(|(reason, findings)| Event::ReturnedToDevelopment { reason, findings }),
        (text(), text()).prop_map(|(by, reason)| Event::Aborted(Intervention::by(by, reason))),
        text().prop_map(|reason| Event::Failed { reason }),
        text().prop_map(|reason| Event::RollbackFailed { reason }),
        text().prop_map(|effect| Event::EffectStarted { effect }),
    ]
}
