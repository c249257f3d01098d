//! One fixed example of every event kind, for the golden-bytes fixtures,
//! tests and benchmarks. The match is exhaustive, so a new kind cannot be
//! added without an example (and so without a fixture).

use chrono::DateTime;

use super::payloads::{
    Alert, AlertReceived, AnalysisCompleted, AnalysisMeasured, AnalysisStarted, Answer, Drained,
    FixAttempted, GreenHealthy, GreenStarted, GreenUnhealthy, Intervention, IssueClosed,
    IssuesReferenced, ReportCommitted, ReportWritten, SynthesisRecorded, TestRunCompleted,
    VerdictRecorded,
};

use super::{
    AnalysisPhase, Decision, Event, EventKind, Finding, FixOutcome, IssueOutcome,
    MeasurementVerdict, MissingInput, Outcome, Role, RunVerdict, Severity, Slot, Tier, Verdict,
};

pub fn sample(kind: EventKind) -> Event {
    let finding = || Finding {
        severity: Severity::High,
        requirement: Some("REQ-3".into()),
        file: Some("src/greet.rs".into()),
        line: Some(42),
        message: "greeting ignores the configured locale".into(),
    };
    match kind {
        EventKind::DeploymentRequested => Event::DeploymentRequested {
            app: "hello".into(),
            release: "v2".into(),
            requested_by: "ana".into(),
            config: "[app]\nname = \"hello\"\n[runtime]\nsecrets = [\"API_TOKEN\"]\n".into(),
            rollback_to: Some("v1".into()),
            commit: Some("0a1b2c3d".into()),
            committed_at: DateTime::from_timestamp(1_764_000_000, 0),
            // The first fixture predates these fields; absent, they are not encoded.
            blue: None,
            base_dir: None,
        },
        EventKind::InputsValidated => Event::InputsValidated {
            checked: vec!["code".into(), "requirements".into(), "tests".into()],
        },
        EventKind::InputsRejected => Event::InputsRejected {
            missing: vec![MissingInput {
                item: "requirements".into(),
                reason: "REQUIREMENTS.md is empty".into(),
            }],
        },
        EventKind::GreenDeployIntended => Event::GreenDeployIntended {
            slot: Slot::Green,
            release: "v2".into(),
            attempt: 1,
        },
        EventKind::GreenStarted => Event::GreenStarted(GreenStarted {
            slot: Slot::Green,
            endpoint: "127.0.0.1:41002".into(),
            instance: "pid:4242".into(),
            // The golden bytes of schema 1 have none.
            digest: None,
        }),
        EventKind::GreenHealthy => Event::GreenHealthy(GreenHealthy {
            slot: Slot::Green,
            endpoint: "127.0.0.1:41002".into(),
            checks: 3,
            elapsed_ms: 600,
        }),
        EventKind::GreenUnhealthy => Event::GreenUnhealthy(GreenUnhealthy {
            slot: Slot::Green,
            checks: 150,
            elapsed_ms: 30_000,
            diagnosis: "exit status 1: address already in use".into(),
        }),
        EventKind::FixAttempted => Event::FixAttempted(FixAttempted {
            tier: Tier::Driver,
            attempt: 1,
            diagnosis: "address already in use".into(),
            action: "new port".into(),
            outcome: FixOutcome::Applied,
            patches: Vec::new(),
        }),
        EventKind::Escalated => Event::Escalated {
            from: Tier::Driver,
            to: Tier::Senior,
            reason: "3 driver attempts exhausted".into(),
        },
        EventKind::TestRunIntended => Event::TestRunIntended {
            command: "./smoke-test.sh".into(),
            target_url: "http://127.0.0.1:41002".into(),
        },
        EventKind::TestRunCompleted => Event::TestRunCompleted(TestRunCompleted {
            passed: 12,
            failed: 0,
            skipped: 1,
            duration_ms: 840,
            exit_code: Some(0),
            output_tail: "test result: ok. 12 passed; 0 failed; 1 ignored".into(),
        }),
        EventKind::ReviewRequested => Event::ReviewRequested {
            round: 1,
            members: vec!["tests".into(), "requirements".into(), "hygiene".into()],
        },
        EventKind::VerdictRecorded => Event::VerdictRecorded(VerdictRecorded {
            round: 1,
            role: Role::Trio,
            member: "requirements".into(),
            answer: Answer {
                model: "builtin".into(),
                verdict: Verdict::FixesNeeded,
                summary: "REQ-3 is not covered".into(),
                findings: vec![finding()],
                usage: None,
            },
        }),
        EventKind::SynthesisRecorded => Event::SynthesisRecorded(SynthesisRecorded {
            round: 1,
            member: "synthesis".into(),
            answer: Answer {
                model: "builtin".into(),
                verdict: Verdict::FixesNeeded,
                summary: "Reviewer B found an uncovered requirement".into(),
                findings: vec![finding()],
                usage: None,
            },
        }),
        EventKind::DecisionMade => Event::DecisionMade {
            round: 1,
            decision: Decision::FixesNeeded,
            rule: "synthesis asks for fixes: back to the fix loop".into(),
        },
        EventKind::ManuallyApproved => {
            Event::ManuallyApproved(Intervention::by("ana", "smoke-tested by hand"))
        }
        EventKind::ManuallyRejected => {
            Event::ManuallyRejected(Intervention::by("ana", "wrong copy on the landing page"))
        }
        EventKind::TrafficSwitched => Event::TrafficSwitched {
            from: Some(Slot::Blue),
            to: Slot::Green,
            endpoint: "127.0.0.1:41002".into(),
        },
        EventKind::Drained => Event::Drained(Drained {
            slot: Slot::Blue,
            remaining: 0,
            waited_ms: 120,
            timed_out: false,
        }),
        EventKind::BlueStopped => Event::BlueStopped {
            slot: Slot::Blue,
            release: "v1".into(),
            retained: true,
        },
        EventKind::ReportWritten => Event::ReportWritten(ReportWritten {
            path: "docs/deployments/2026-11-25-hello-v2.md".into(),
            sha256: "5d41402abc4b2a76b9719d911017c592".into(),
        }),
        EventKind::IssuesClosed => Event::IssuesClosed {
            issues: vec![12, 15],
        },
        EventKind::GreenStopped => Event::GreenStopped {
            slot: Slot::Green,
            release: "v2".into(),
        },
        EventKind::ReportCommitted => Event::ReportCommitted(ReportCommitted {
            commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
            branch: Some("main".into()),
            pushed: false,
            notes: vec!["left uncommitted: src/main.rs".into()],
        }),
        EventKind::IssuesReferenced => Event::IssuesReferenced(IssuesReferenced {
            issues: vec![12, 15],
            commits: 3,
            since: Some("1a2b3c4".into()),
        }),
        EventKind::IssueClosed => Event::IssueClosed(IssueClosed {
            issue: 12,
            outcome: IssueOutcome::Closed,
            detail: "commented and closed".into(),
        }),
        EventKind::CompletionStepFailed => Event::CompletionStepFailed {
            step: "write_report".into(),
            reason: "docs/deployments: permission denied".into(),
        },
        EventKind::Completed => Event::Completed {
            outcome: Outcome::Promoted,
        },
        EventKind::RollbackStarted => Event::RollbackStarted {
            reason: "error rate above 5% after the switch".into(),
            after_promotion: true,
            to_release: Some("v1".into()),
        },
        EventKind::RollbackCompleted => Event::RollbackCompleted {
            live_release: Some("v1".into()),
            live_slot: Some(Slot::Blue),
        },
        EventKind::EffectStarted => Event::EffectStarted {
            effect: "switch_traffic".into(),
        },
        EventKind::RollbackFailed => Event::RollbackFailed {
            reason: "v1 never answered its health check".into(),
        },
        EventKind::ReturnedToDevelopment => Event::ReturnedToDevelopment {
            reason: "major flaw upheld by the synthesis".into(),
            findings: vec![Finding {
                severity: Severity::Critical,
                ..finding()
            }],
        },
        EventKind::Aborted => Event::Aborted(Intervention::by("ana", "wrong release")),
        EventKind::Failed => Event::Failed {
            reason: "backend unreachable".into(),
        },
        EventKind::AnalysisStarted => Event::AnalysisStarted(AnalysisStarted {
            name: "errors".into(),
            phase: AnalysisPhase::PrePromotion,
            run: 1,
        }),
        EventKind::AnalysisMeasured => Event::AnalysisMeasured(AnalysisMeasured {
            name: "errors".into(),
            metric: "success".into(),
            index: 2,
            value: serde_json::json!(0.97),
            baseline: Some(serde_json::json!({"p_value": 0.2, "rate": 0.01})),
            verdict: MeasurementVerdict::Failed,
            detail: "success `result >= 0.99` does not hold".into(),
        }),
        EventKind::BlueKept => Event::BlueKept { waited_ms: 30_000 },
        EventKind::WeightSet => Event::WeightSet { percent: 10 },
        EventKind::StepStarted => Event::StepStarted {
            index: 1,
            step: crate::events::RolloutStep::Analysis("errors".into()),
        },
        EventKind::StepCompleted => Event::StepCompleted {
            index: 0,
            detail: "green takes 10 % of the traffic".into(),
        },
        EventKind::AlertReceived => Event::AlertReceived(AlertReceived {
            status: "firing".into(),
            alerts: vec![Alert {
                name: "HighErrorRate".into(),
                status: "firing".into(),
                summary: "5xx above 5% for 2m".into(),
                fingerprint: "a1b2c3".into(),
            }],
            since_switch_ms: Some(120_000),
        }),
        EventKind::AnalysisCompleted => Event::AnalysisCompleted(AnalysisCompleted {
            name: "errors".into(),
            phase: AnalysisPhase::PrePromotion,
            verdict: RunVerdict::Failed,
            reason: "metric `success` failed 1 time (failure_limit 0)".into(),
        }),
    }
}

/// A whole deployment's samples at set milliseconds, 1400 ms in all: the
/// app starts in 100, the tests take 200, the reviews 30, drain and stop
/// 1050 (the sample decision asks for fixes, so the flow goes back there).
pub fn timed_deployment() -> Vec<super::Envelope> {
    use EventKind::*;
    [
        (0, DeploymentRequested),
        (5, InputsValidated),
        (5, GreenDeployIntended),
        (8, GreenStarted),
        (108, GreenHealthy),
        (108, TestRunIntended),
        (308, TestRunCompleted),
        (309, ReviewRequested),
        (329, VerdictRecorded),
        (339, SynthesisRecorded),
        (340, DecisionMade),
        (345, TrafficSwitched),
        (1345, Drained),
        (1395, BlueStopped),
        (1400, ReportWritten),
        (1400, Completed),
    ]
    .into_iter()
    .map(|(ms, kind)| envelope_at(ms, kind))
    .collect()
}

/// The sample of `kind` as the `ms`-th millisecond's record of a stream,
/// for tests that read timings off envelopes.
fn envelope_at(ms: i64, kind: EventKind) -> super::Envelope {
    super::Envelope {
        seq: ms as u64,
        stream: super::StreamId::new(),
        version: 0,
        event_id: uuid::Uuid::nil(),
        recorded_at: DateTime::from_timestamp_millis(1_764_000_000_000 + ms).unwrap_or_default(),
        schema_version: 1,
        prev_hash: super::Hash::ZERO,
        hash: super::Hash::ZERO,
        event: sample(kind),
    }
}
