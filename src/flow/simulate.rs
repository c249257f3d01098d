//! A simulated world for the flow: answers to each step steered by a byte
//! of choice, and the stray inputs people and crashed shells send. Used by
//! the property tests and by the log generator of the projections'
//! benchmark, so both drive the flow the same way.

use super::{Effect, Input, Step};
use crate::events::payloads::{
    Alert, AlertReceived, AnalysisMeasured, Answer, Drained, FixAttempted, GreenHealthy,
    GreenStarted, GreenUnhealthy, Intervention, IssueClosed, IssuesReferenced, ReportCommitted,
    ReportWritten, SynthesisRecorded, VerdictRecorded,
};
use crate::events::{
    Event, Finding, FixOutcome, IssueOutcome, LiveRelease, MeasurementVerdict, MissingInput,
    Outcome, Role, RolloutStep, Severity, Slot, Verdict,
};

/// A random policy, written as the config file a user would write.
#[derive(Debug, Clone)]
pub struct World {
    pub fix: [u32; 3],
    pub quorum_all: bool,
    pub manual_gate: bool,
    pub juniors: usize,
    pub max_rounds: u32,
    pub forge: bool,
    /// `completion.commit`: the report is committed.
    pub commit: bool,
    pub first_deploy: bool,
    /// Pre-promotion analysis templates (0 to 2), each of two metrics.
    pub analyses: usize,
    /// Post-promotion ones, run while blue is kept.
    pub post_analyses: usize,
    /// A canary's steps (`rollout.strategy = "canary"`); `None`: Blue/Green.
    pub canary: Option<Vec<RolloutStep>>,
    /// A background analysis beside the canary, from this step.
    pub background_from: Option<u32>,
}

impl World {
    /// DESIGN.md's defaults, with a blue serving.
    pub fn defaults() -> World {
        World {
            fix: [3, 2, 1],
            quorum_all: true,
            manual_gate: false,
            juniors: 2,
            max_rounds: 6,
            forge: false,
            commit: false,
            first_deploy: false,
            analyses: 0,
            post_analyses: 0,
            canary: None,
            background_from: None,
        }
    }
}

pub fn config_text(world: &World) -> String {
    let juniors: Vec<String> = ["tests", "hygiene"][..world.juniors]
        .iter()
        .map(|j| format!("\"{j}\""))
        .collect();
    let forge = if world.forge {
        "[forge]\nkind = \"github\"\nrepo = \"o/r\"\ntoken_env = \"GITHUB_TOKEN\"\n"
    } else {
        ""
    };
    let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("\"a{i}\"")).collect() };
    let analyses: String = (0..world.analyses.max(world.post_analyses))
        .map(|i| {
            format!(
                "[analysis.a{i}]\ncount = {}\nfailure_limit = {}\nconsecutive_error_limit = 1\n\
                 [[analysis.a{i}.metrics]]\nname = \"{}\"\nprovider = \"exec\"\ncommand = \"./m.sh\"\n\
                 success = \"result < 0.1\"\n\
                 [[analysis.a{i}.metrics]]\nname = \"{}\"\nprovider = \"exec\"\ncommand = \"./m.sh\"\n\
                 success = \"result < 100.0\"\nfailure = \"result > 500.0\"\n",
                i + 1,
                i,
                SIMULATED_METRICS[0],
                SIMULATED_METRICS[1],
            )
        })
        .collect();
    let template = |name: &str, count: u32| {
        format!(
            "[analysis.{name}]\ncount = {count}\nconsecutive_error_limit = 1\n\
             [[analysis.{name}.metrics]]\nname = \"{}\"\nprovider = \"exec\"\ncommand = \"./m.sh\"\n\
             success = \"result < 0.1\"\n\
             [[analysis.{name}.metrics]]\nname = \"{}\"\nprovider = \"exec\"\ncommand = \"./m.sh\"\n\
             success = \"result < 100.0\"\n",
            SIMULATED_METRICS[0], SIMULATED_METRICS[1],
        )
    };
    let mut canary = String::new();
    if let Some(steps) = &world.canary {
        let steps: Vec<String> = steps
            .iter()
            .map(|step| match step {
                RolloutStep::SetWeight(p) => format!("{{ set_weight = {p} }}"),
                RolloutStep::PauseS(s) => format!("{{ pause_s = {s} }}"),
                RolloutStep::Pause(_) => "{ pause = \"manual\" }".into(),
                RolloutStep::Analysis(name) => format!("{{ analysis = \"{name}\" }}"),
            })
            .collect();
        canary = format!("strategy = \"canary\"\nsteps = [{}]\n", steps.join(", "));
        if let Some(from) = world.background_from {
            canary.push_str(&format!(
                "background_analysis = {{ name = \"bg\", starting_step = {from} }}\n"
            ));
        }
    }
    let analyses = if world.canary.is_some() {
        format!("{analyses}{}{}", template("c0", 2), template("bg", 0))
    } else {
        analyses
    };
    let rollout = if world.analyses + world.post_analyses > 0 || !canary.is_empty() {
        format!(
            "[rollout]\npre_promotion = [{}]\npost_promotion = [{}]\nscale_down_delay_s = 5\n{canary}",
            names(world.analyses).join(", "),
            names(world.post_analyses).join(", ")
        )
    } else {
        String::new()
    };
    format!(
        "[app]\nname = \"hello\"\n[inputs]\nrequirements = \"REQ.md\"\ntests = \"./t.sh\"\n\
         [runtime]\ncommand = \"./hello\"\n\
         [fix]\ndriver_attempts = {}\nsenior_attempts = {}\ntrio_attempts = {}\n\
         [review]\njuniors = [{}]\nquorum = \"{}\"\nmax_rounds = {}\nmanual_gate = {}\n\
         [completion]\ncommit = {}\n{forge}{analyses}{rollout}",
        world.fix[0],
        world.fix[1],
        world.fix[2],
        juniors.join(", "),
        if world.quorum_all { "all" } else { "2/3" },
        world.max_rounds,
        world.manual_gate,
        world.commit,
    )
}

/// The metrics of every simulated analysis template.
pub const SIMULATED_METRICS: [&str; 2] = ["errors", "latency"];

pub fn requested(world: &World) -> Event {
    Event::DeploymentRequested {
        app: "hello".into(),
        release: "v2".into(),
        requested_by: "test".into(),
        config: config_text(world),
        rollback_to: (!world.first_deploy).then(|| "v1".into()),
        commit: None,
        committed_at: None,
        blue: (!world.first_deploy).then(|| LiveRelease {
            slot: Slot::Blue,
            release: "v1".into(),
            endpoint: "127.0.0.1:9001".into(),
            deployment: None,
        }),
        base_dir: None,
    }
}

pub fn verdict_of(choice: u8) -> Verdict {
    match choice % 8 {
        0 => Verdict::FixesNeeded,
        1 => Verdict::MajorFlaw,
        2 => Verdict::Abstain,
        _ => Verdict::Approve,
    }
}

/// Mostly successful, now and then any other verdict.
pub fn measurement_of(choice: u8) -> MeasurementVerdict {
    match choice % 7 {
        0 => MeasurementVerdict::Failed,
        1 => MeasurementVerdict::Inconclusive,
        2 => MeasurementVerdict::Error,
        _ => MeasurementVerdict::Successful,
    }
}

pub fn findings_of(choice: u8) -> Vec<Finding> {
    let severity = match choice % 9 {
        0 => Severity::Critical,
        1 => Severity::High,
        2 => Severity::Low,
        _ => return Vec::new(),
    };
    vec![Finding {
        severity,
        requirement: Some("REQ-1".into()),
        file: None,
        line: None,
        message: "found".into(),
    }]
}

/// The kinds of trouble a green meets, as the backends' diagnoses put
/// them: a crash (two of them, so the same one can come twice), a port in
/// use, a dependency not up, a green that runs and does not answer.
fn diagnosis_of(choice: u8) -> String {
    match choice % 5 {
        0 => "the process exited with status 1: KeyError: 'SITE_SECRET'",
        1 => "the process exited with status 98: OSError: [Errno 98] Address already in use",
        2 => "no 2xx within 30 s; GET /health failed: connection refused; the process is running; it last said: db:5432: connection refused",
        3 => "no 2xx within 30 s; GET /health answered 503; the process is running",
        _ => "the process exited with status 2: ImportError: no module named flask",
    }
    .to_string()
}

/// The result the world gives for `step`, steered by `choice`.
pub fn world_answer(step: &Step, choice: u8) -> Option<Input> {
    let by = || "tester".to_string();
    Some(match step {
        Step::Finished(Outcome::Promoted) if choice.is_multiple_of(3) => Input::Rollback {
            by: by(),
            reason: "errors after the switch".into(),
            to_release: None,
        },
        Step::Finished(_) => return None,
        Step::AwaitApproval if choice.is_multiple_of(2) => {
            Input::Approve(Intervention::by(by(), "looks good"))
        }
        Step::AwaitApproval => Input::Reject(Intervention::by(by(), "not today")),
        Step::Do(effect) => match effect {
            Effect::ValidateInputs => Input::InputsChecked {
                checked: vec!["code".into()],
                missing: if choice.is_multiple_of(12) {
                    vec![MissingInput {
                        item: "requirements".into(),
                        reason: "empty".into(),
                    }]
                } else {
                    Vec::new()
                },
            },
            Effect::StartInstance { .. } if choice.is_multiple_of(5) => Input::InstanceFailed {
                diagnosis: diagnosis_of(choice / 5),
            },
            Effect::StartInstance { slot, attempt, .. } => Input::InstanceStarted(GreenStarted {
                slot: *slot,
                endpoint: format!("127.0.0.1:{}", 9100 + *attempt),
                instance: format!("{slot:?}-{attempt}"),
                digest: Some(format!("{attempt:064x}")),
            }),
            Effect::WaitHealthy { slot, endpoint } if choice.is_multiple_of(3) => {
                Input::Unhealthy(GreenUnhealthy {
                    slot: *slot,
                    checks: 3,
                    elapsed_ms: 600,
                    diagnosis: format!(
                        "{}\nthe instance is not running; GET /health failed: {endpoint}: connection refused",
                        diagnosis_of(choice / 3)
                    ),
                })
            }
            Effect::WaitHealthy { slot, endpoint } => Input::Healthy(GreenHealthy {
                slot: *slot,
                endpoint: endpoint.clone(),
                checks: 3,
                elapsed_ms: 600,
            }),
            Effect::ApplyFix {
                tier,
                attempt,
                diagnosis,
                remedy,
            } => Input::FixDone(FixAttempted {
                tier: *tier,
                attempt: *attempt,
                diagnosis: diagnosis.clone(),
                // As the shell's: the remedy's name first.
                action: format!("{}: simulated", remedy.name()),
                outcome: match choice % 4 {
                    0 => FixOutcome::NotApplied,
                    1 => FixOutcome::GaveUp,
                    _ => FixOutcome::Applied,
                },
                patches: Vec::new(),
            }),
            Effect::RunTests { .. } => {
                let failed = u32::from(choice.is_multiple_of(4));
                Input::TestsRan(crate::events::payloads::TestRunCompleted {
                    passed: 5,
                    failed,
                    skipped: 0,
                    duration_ms: 120,
                    exit_code: Some(failed as i32),
                    output_tail: "test result".into(),
                })
            }
            Effect::Review { role, members, .. } => Input::Verdict(VerdictRecorded {
                round: 0,
                role: *role,
                member: members.first().cloned().unwrap_or_default(),
                answer: Answer {
                    model: "built-in".into(),
                    verdict: verdict_of(choice),
                    summary: "s".into(),
                    findings: findings_of(choice / 8),
                    usage: None,
                },
            }),
            Effect::Synthesize { member, .. } => Input::Synthesis(SynthesisRecorded {
                round: 0,
                member: member.clone(),
                answer: Answer {
                    model: "built-in".into(),
                    verdict: verdict_of(choice / 3),
                    summary: "s".into(),
                    findings: findings_of(choice),
                    usage: None,
                },
            }),
            Effect::Measure { name, index, .. } => Input::Measured(
                SIMULATED_METRICS
                    .iter()
                    .enumerate()
                    .map(|(i, metric)| AnalysisMeasured {
                        name: name.clone(),
                        metric: (*metric).to_string(),
                        index: *index,
                        value: serde_json::json!(choice),
                        baseline: None,
                        verdict: measurement_of(choice.rotate_left(i as u32 * 3)),
                        detail: "simulated".into(),
                    })
                    .collect(),
            ),
            Effect::KeepBlue { keep_ms } => Input::BlueKept {
                waited_ms: *keep_ms,
            },
            Effect::SwitchTraffic { .. } => Input::Switched,
            Effect::SetWeight { percent, .. } => Input::WeightSet { percent: *percent },
            // Now and then green ends during a pause.
            Effect::Pause { pause_ms, .. } if choice % 11 == 7 => {
                Input::Unhealthy(GreenUnhealthy {
                    slot: Slot::Green,
                    checks: 0,
                    elapsed_ms: *pause_ms / 2,
                    diagnosis: "green is not running".into(),
                })
            }
            Effect::Pause { pause_ms, .. } => Input::Paused {
                waited_ms: *pause_ms,
            },
            // A person decides at a canary's gate, or green ends first.
            Effect::WatchGreen if choice % 7 == 5 => Input::Unhealthy(GreenUnhealthy {
                slot: Slot::Green,
                checks: 0,
                elapsed_ms: 1_000,
                diagnosis: "green is not running".into(),
            }),
            Effect::WatchGreen => return world_answer(&Step::AwaitApproval, choice),
            Effect::WithdrawCanary { .. } => Input::WeightSet { percent: 0 },
            Effect::Drain { slot } => Input::Drained(Drained {
                slot: *slot,
                remaining: 0,
                waited_ms: 10,
                timed_out: false,
            }),
            Effect::StopInstance { .. } => Input::InstanceStopped,
            Effect::WriteReport => Input::ReportWritten(ReportWritten {
                path: "docs/deployments/x.md".into(),
                sha256: "00".into(),
            }),
            Effect::CommitReport { .. } => Input::ReportCommitted(ReportCommitted {
                commit: choice.is_multiple_of(2).then(|| "abc1234".into()),
                branch: Some("main".into()),
                pushed: false,
                notes: Vec::new(),
            }),
            Effect::FindIssues => Input::IssuesFound(IssuesReferenced {
                issues: (0..u64::from(choice % 3)).collect(),
                commits: 2,
                since: None,
            }),
            Effect::CloseIssue { issue } => Input::IssueHandled(IssueClosed {
                issue: *issue,
                outcome: if choice.is_multiple_of(4) {
                    IssueOutcome::AlreadyClosed
                } else {
                    IssueOutcome::Closed
                },
                detail: "closed".into(),
            }),
        },
    })
}

/// The world's answer to the background lane's measurement, if one is due.
pub fn background_answer(state: &super::Deployment, choice: u8) -> Option<Input> {
    let effect = super::background_step(state)?;
    match world_answer(&Step::Do(effect), choice)? {
        Input::Measured(measurements) => Some(Input::BackgroundMeasured(measurements)),
        _ => None,
    }
}

/// An alert from monitoring about the live release, firing or resolved.
pub fn alert(firing: bool) -> Input {
    let status = if firing { "firing" } else { "resolved" };
    Input::Alert(AlertReceived {
        status: status.into(),
        alerts: vec![Alert {
            name: "HighErrorRate".into(),
            status: status.into(),
            summary: "5xx above 5%".into(),
            fingerprint: "f00d".into(),
        }],
        since_switch_ms: Some(60_000),
    })
}

/// Any input at all, fitting or not: people and crashed shells send those.
pub fn stray_input(choice: u8) -> Input {
    let by = "someone".to_string();
    match choice % 10 {
        0 => Input::Abort(Intervention::by(by, "stop")),
        1 => Input::Rollback {
            by,
            reason: "manual".into(),
            to_release: None,
        },
        // Now and then, a canary's remaining steps skipped.
        2 => Input::Approve(Intervention {
            full: choice % 20 == 12,
            ..Intervention::by(by, "ok")
        }),
        3 => Input::Reject(Intervention::by(by, "no")),
        4 => Input::EffectFailed {
            reason: "backend down".into(),
        },
        5 => Input::Switched,
        6 => Input::InstanceStopped,
        7 => Input::Drained(Drained {
            slot: Slot::Blue,
            remaining: 1,
            waited_ms: 1,
            timed_out: true,
        }),
        8 => Input::Verdict(VerdictRecorded {
            round: 0,
            role: Role::Trio,
            member: "stranger".into(),
            answer: Answer {
                model: "m".into(),
                verdict: Verdict::Approve,
                summary: String::new(),
                findings: Vec::new(),
                usage: None,
            },
        }),
        _ => Input::Healthy(GreenHealthy {
            slot: Slot::Green,
            endpoint: "127.0.0.1:1".into(),
            checks: 1,
            elapsed_ms: 1,
        }),
    }
}
