//! Performing one effect through the adapters and answering the Driver.
//! Each function runs in a task of its own, so no actor's mailbox waits on
//! a process, a health check, a test run or a reviewer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::completion;
use super::context::Context;
use super::messages::Job;
use crate::adapters::backend::{BuildSpec, InstanceSpec};
use crate::adapters::fixers::{
    CommandFixer, FixRequest, ModelFixer, Seat as FixerSeat, TierFixers,
};
use crate::adapters::health::{HealthCheck, wait_healthy};
use crate::adapters::members::{
    Api, CommandMember, ModelMember, builtin, builtin_synthesizer, redact_key_material,
};
use crate::adapters::review::{Anonymized, Answer, FixRecord, Member, ReviewBundle, Synthesizer};
use crate::adapters::snapshot_release;
use crate::adapters::test_runner::{TestRun, TestSpec, run_tests};
use crate::config::MemberKind;
use crate::events::{Event, FixOutcome, Role, Slot, Tier};
use crate::flow::consensus::anonymous_label;
use crate::flow::fix_loop::{BACK_OFF, NEW_PORT, RECREATE};
use crate::flow::{Deployment, Effect, Input, Remedy};

/// The port an app listens on in its container when the config does not say.
const DEFAULT_CONTAINER_PORT: u16 = 8080;
/// How long a test run may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a reviewer may take before it counts as abstaining, unless its
/// config says otherwise.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(300);

fn failed(reason: impl Into<String>) -> Vec<Input> {
    vec![Input::EffectFailed {
        reason: reason.into(),
    }]
}

/// The Driver's own effects: inputs, tests, the completion's.
pub async fn driver_own(job: Job) {
    let ctx = job.context.clone();
    let inputs = match &job.effect {
        Effect::ValidateInputs => {
            let config = ctx.config.clone();
            let base = ctx.base.clone();
            let checked =
                tokio::task::spawn_blocking(move || crate::adapters::inputs::check(&config, &base))
                    .await;
            match checked {
                Ok(mut check) => {
                    backend_ready(&ctx, &mut check).await;
                    vec![Input::InputsChecked {
                        checked: check.checked,
                        missing: check.missing,
                    }]
                }
                Err(e) => failed(format!("checking the inputs failed: {e}")),
            }
        }
        Effect::RunTests {
            command,
            target_url,
        } => vec![tests(&ctx, &job.state, command, target_url).await],
        Effect::WriteReport => match completion::write_report(&ctx).await {
            Ok(written) => vec![written],
            Err(e) => failed(format!("writing the deployment report: {e}")),
        },
        Effect::CommitReport { path } => {
            vec![completion::commit_report(&ctx, &job.state, path).await]
        }
        Effect::FindIssues => match completion::find_issues(&ctx, &job.state).await {
            Ok(found) => vec![found],
            Err(e) => failed(format!("finding the issues the release closes: {e}")),
        },
        Effect::CloseIssue { issue } => {
            vec![completion::close_issue(&ctx, &job.state, *issue, job.resumed).await]
        }
        other => failed(format!("{other:?} is not the Driver's to do")),
    };
    job.answer(inputs);
}

/// A backend that cannot start anything (no Docker engine) is a missing
/// input: the deployment stops at prepare, before green, blue untouched.
async fn backend_ready(ctx: &Context, check: &mut crate::adapters::inputs::InputCheck) {
    let kind = ctx.config.runtime.get_ref().backend;
    if kind == crate::config::BackendKind::Process {
        return;
    }
    let backend = ctx.backend();
    match backend.check_ready().await {
        Ok(found) => check.checked.push(found),
        Err(e) => {
            check.missing.push(crate::events::MissingInput {
                item: "runtime.backend".into(),
                reason: e.to_string(),
            });
            return;
        }
    }
    // An image to run as it is must be there now, not four starts later.
    let runtime = ctx.config.runtime.get_ref();
    if let (Some(image), None) = (&runtime.image, &runtime.build) {
        match backend.check_image(image).await {
            Ok(found) => check.checked.push(found),
            Err(e) => check.missing.push(crate::events::MissingInput {
                item: "runtime.image".into(),
                reason: e.to_string(),
            }),
        }
    }
}

async fn tests(ctx: &Context, state: &Deployment, command: &str, target_url: &str) -> Input {
    let runs = state.tests.as_ref().map_or(0, |_| 1) + state.fixes.total();
    let spec = TestSpec {
        command: command.to_string(),
        dir: ctx.paths.code.clone(),
        target_url: target_url.to_string(),
        env: ctx
            .config
            .runtime
            .get_ref()
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeout: TEST_TIMEOUT,
        log_path: test_log(ctx, runs),
    };
    match run_tests(&spec).await {
        Ok(run) => {
            // Redacted whole, then cut to its last lines: the cut cannot
            // split a secret the redactor would then no longer find.
            let run = TestRun {
                output: ctx.redactor().redact(&run.output),
                ..run
            };
            Input::TestsRan {
                passed: run.passed,
                failed: run.failed,
                skipped: run.skipped,
                duration_ms: run.duration_ms,
                exit_code: run.exit_code,
                output_tail: run.tail(40),
            }
        }
        Err(e) => Input::TestsRan {
            passed: 0,
            failed: 0,
            skipped: 0,
            duration_ms: 0,
            exit_code: None,
            output_tail: e.to_string(),
        },
    }
}

fn test_log(ctx: &Context, run: u32) -> PathBuf {
    ctx.log_dir().join(format!("tests-{run}.log"))
}

/// The deployment's last test run, with its full output, for reviewers.
fn last_test_run(ctx: &Context, state: &Deployment) -> Option<TestRun> {
    let result = state.tests.as_ref()?;
    let dir = ctx.log_dir();
    let newest = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tests-"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
    // Reviewers may be models: no secret value goes into what they read.
    let output = ctx
        .redactor()
        .redact(&std::fs::read_to_string(newest.path()).unwrap_or_default());
    Some(TestRun {
        passed: result.passed,
        failed: result.failed,
        skipped: result.skipped,
        duration_ms: 0,
        exit_code: result.exit_code,
        output,
        format: None,
    })
}

/// Instances, health, traffic and the Driver tier's remedies.
pub async fn environment(job: Job) {
    let ctx = &job.context;
    let state = &job.state;
    let backend = ctx.backend();
    let inputs = match &job.effect {
        Effect::StartInstance {
            slot,
            release,
            attempt,
            fresh_port,
        } => {
            // A rollback after promotion starts another release, as the
            // deployment that brought it configured it.
            let source = match &job.restore {
                Some(restore) if release != &ctx.release => restore.as_ref(),
                _ => ctx.as_ref(),
            };
            vec![start(source, ctx, *slot, release, *attempt, *fresh_port).await]
        }
        Effect::WaitHealthy { slot, endpoint } => {
            // A restored release is checked as its own config says.
            let source = match &job.restore {
                Some(restore) if *slot != state.green_slot => restore.as_ref(),
                _ => ctx.as_ref(),
            };
            let health = &source.config.health;
            let check = HealthCheck {
                app: ctx.app.clone(),
                slot: *slot,
                endpoint: endpoint.clone(),
                path: health.path.as_str().to_string(),
                interval: Duration::from_millis(health.interval_ms.0),
                deadline: Duration::from_secs(health.deadline_s.0),
            };
            let report = wait_healthy(&check, backend).await;
            vec![Input::Health {
                healthy: report.healthy,
                checks: report.checks,
                elapsed_ms: report.elapsed_ms,
                diagnosis: report.diagnosis,
            }]
        }
        Effect::StopInstance { slot, retain, .. } => {
            match backend.stop(&ctx.app, *slot, *retain).await {
                Ok(()) => vec![Input::InstanceStopped],
                Err(e) => failed(e.to_string()),
            }
        }
        Effect::SwitchTraffic { endpoint, to } => {
            let router = ctx.router();
            // Announced before a crash: the route may already be the new one.
            let done = job.resumed
                && matches!(router.route(&ctx.app).await, Ok(Some(u)) if &u == endpoint);
            if done {
                promote(ctx, backend.as_ref(), *to).await;
                job.answer(vec![Input::Switched]);
                return;
            }
            let switched = async {
                router.ensure_running().await?;
                router
                    .set_route(&ctx.app, ctx.config.router.listen.0, endpoint)
                    .await
            };
            if let Err(e) = switched.await {
                // The route may have been taken before the answer was lost:
                // what the router serves now decides.
                let taken = matches!(router.route(&ctx.app).await, Ok(Some(u)) if &u == endpoint);
                if !taken {
                    job.answer(failed(e.to_string()));
                    return;
                }
            }
            promote(ctx, backend.as_ref(), *to).await;
            vec![Input::Switched]
        }
        Effect::Drain { slot } => {
            let upstream = endpoint_of(state, *slot);
            let timeout = Duration::from_secs(ctx.config.router.drain_timeout_s.0);
            let router = ctx.router();
            let drained = async {
                router.ensure_running().await?;
                router.drain(&upstream, timeout).await
            };
            match drained.await {
                Ok(report) => vec![Input::Drained {
                    remaining: report.in_flight,
                    waited_ms: report.waited_ms,
                    timed_out: !report.drained,
                }],
                // Traffic is on the new release already; what cannot be
                // counted is waited out, as a drain that timed out.
                Err(e) => {
                    tracing::warn!(app = %ctx.app, "drain not measured ({e}); waiting it out");
                    tokio::time::sleep(timeout).await;
                    vec![Input::Drained {
                        remaining: 0,
                        waited_ms: timeout.as_millis() as u64,
                        timed_out: true,
                    }]
                }
            }
        }
        Effect::ApplyFix {
            tier: Tier::Driver,
            remedy,
            ..
        } => vec![driver_remedy(ctx, state, remedy).await],
        other => failed(format!("{other:?} is not the Environment's to do")),
    };
    job.answer(inputs);
}

/// Names the live instance as the backend does (Docker: the plain name). It
/// changes only what operators see, never traffic, so a failure is a
/// warning, not a failed switch.
async fn promote(ctx: &Context, backend: &dyn crate::adapters::backend::Backend, slot: Slot) {
    if let Err(e) = backend.promote(&ctx.app, slot).await {
        tracing::warn!(app = %ctx.app, "traffic switched, but naming the live instance failed: {e}");
    }
}

/// The address that served from `slot`, for its drain.
fn endpoint_of(state: &Deployment, slot: Slot) -> String {
    match &state.blue {
        Some(blue)
            if blue.slot == slot && !matches!(state.phase, crate::flow::Phase::Restoring(_)) =>
        {
            blue.endpoint.clone()
        }
        _ if slot == state.green_slot => state.green_endpoint.clone().unwrap_or_default(),
        _ => state.restore_endpoint.clone().unwrap_or_default(),
    }
}

async fn start(
    source: &Context,
    ctx: &Context,
    slot: Slot,
    release: &str,
    attempt: u32,
    fresh_port: bool,
) -> Input {
    let secrets = match source.secrets() {
        Ok(secrets) => secrets,
        Err(e) => return Input::InstanceFailed { diagnosis: e },
    };
    let runtime = source.config.runtime.get_ref();
    let backend = source.backend();
    let mut env: Vec<(String, String)> = runtime
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(secrets.env());
    let restoring = release != ctx.release;
    let code = match release_code(source, ctx, release, restoring).await {
        Ok(code) => code,
        Err(diagnosis) => return Input::InstanceFailed { diagnosis },
    };
    let spec = InstanceSpec {
        app: ctx.app.clone(),
        deployment: ctx.id.to_string(),
        attempt,
        slot,
        release: release.to_string(),
        command: runtime.command.clone().unwrap_or_default(),
        build_command: runtime.build_command.clone(),
        build_timeout: Duration::from_secs(runtime.build_timeout_s.0),
        dir: code.dir,
        env,
        fresh_port,
        image: runtime.image.clone(),
        build: runtime.build.as_ref().map(|build| BuildSpec {
            context: source.base.join(&build.context),
            dockerfile: build.dockerfile.clone(),
        }),
        container_port: runtime.container_port.unwrap_or(DEFAULT_CONTAINER_PORT),
        stop_timeout: Duration::from_secs(runtime.stop_timeout_s.0),
        retain: runtime.retain.count(),
        volumes: runtime
            .volumes
            .iter()
            .map(|volume| absolute_volume(&source.base, volume))
            .collect(),
        restoring,
    };
    match backend.start(&spec).await {
        Ok(instance) => Input::InstanceStarted {
            endpoint: instance.endpoint,
            instance: instance.id,
            digest: code.digest,
        },
        Err(e) => Input::InstanceFailed {
            diagnosis: e.to_string(),
        },
    }
}

/// Where an instance of `release` runs from, and the digest of that code.
struct ReleaseCode {
    dir: PathBuf,
    digest: Option<String>,
}

/// The candidate's code is snapshotted (again after every fix: its digest
/// then changes) and runs from the snapshot; a release coming back in a
/// rollback runs from the snapshot it ran from before. Only the process
/// backend runs code from a folder; a container runs its image. A release
/// deployed before snapshots existed has none and runs from its code
/// directory, as it did.
async fn release_code(
    source: &Context,
    ctx: &Context,
    release: &str,
    restoring: bool,
) -> Result<ReleaseCode, String> {
    let code = source.paths.code.clone();
    if source.config.runtime.get_ref().backend != crate::config::BackendKind::Process {
        return Ok(ReleaseCode {
            dir: code,
            digest: None,
        });
    }
    let data_dir = ctx.services.data_dir.clone();
    let app = ctx.app.clone();
    if restoring {
        let found = source
            .digest
            .as_deref()
            .and_then(|digest| snapshot_release::find(&data_dir, &app, release, digest));
        return Ok(match found {
            Some(snapshot) => ReleaseCode {
                dir: snapshot.dir,
                digest: Some(snapshot.digest),
            },
            None => ReleaseCode {
                dir: code,
                digest: None,
            },
        });
    }
    let keep = kept_snapshots(ctx);
    let release = release.to_string();
    let taken = tokio::task::spawn_blocking(move || {
        let snapshot = snapshot_release::take(&code, &data_dir, &app, &release)?;
        let mut keep = keep;
        keep.push(snapshot.dir.clone());
        for problem in snapshot_release::prune(&data_dir, &app, &keep) {
            tracing::warn!("an old snapshot stays: {problem}");
        }
        Ok::<_, std::io::Error>(snapshot)
    })
    .await
    .map_err(|e| format!("snapshotting the release's code: {e}"))?
    .map_err(|e| format!("snapshotting the release's code into the data directory: {e}"))?;
    Ok(ReleaseCode {
        dir: taken.dir,
        digest: Some(taken.digest),
    })
}

/// The snapshots a rollback may still need: those of the app's live and
/// retained releases.
fn kept_snapshots(ctx: &Context) -> Vec<PathBuf> {
    let model = ctx.services.model.read();
    model
        .kept_digests(&ctx.app)
        .into_iter()
        .map(|(release, digest)| {
            snapshot_release::dir_of(&ctx.services.data_dir, &ctx.app, &release, &digest)
        })
        .collect()
}

/// A volume with its host path taken from the config's directory.
fn absolute_volume(base: &std::path::Path, volume: &str) -> String {
    match volume.split_once(':') {
        Some((host, rest)) if !host.starts_with('/') => {
            format!("{}:{rest}", base.join(host).display())
        }
        _ => volume.to_string(),
    }
}

async fn driver_remedy(ctx: &Context, state: &Deployment, remedy: &Remedy) -> Input {
    if let Err(e) = ctx.backend().stop(&ctx.app, state.green_slot, false).await {
        return Input::FixDone {
            action: format!("could not stop green to restart it: {e}"),
            outcome: FixOutcome::NotApplied,
            patches: Vec::new(),
        };
    }
    let action = match remedy {
        Remedy::Recreate => format!("{RECREATE}: stopped green to start it afresh"),
        Remedy::NewPort => format!("{NEW_PORT}: stopped green to start it on another port"),
        Remedy::BackOff { ms } => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            format!("{BACK_OFF}: waited {ms} ms for dependencies, then start afresh")
        }
        Remedy::Fixer { tier } => format!("{tier:?} fixes are not the Driver tier's"),
    };
    Input::FixDone {
        action,
        outcome: FixOutcome::Applied,
        patches: Vec::new(),
    }
}

/// Lines of a fix attempt's diagnosis a reviewer is shown.
const FIX_DIAGNOSIS_LINES: usize = 12;

/// The deployment's fix attempts, from its stream.
fn fix_history(ctx: &Context) -> Vec<FixRecord> {
    let Ok(envelopes) = ctx.services.store.read_stream(ctx.id, 0) else {
        return Vec::new();
    };
    envelopes
        .into_iter()
        .filter_map(|envelope| match envelope.event {
            Event::FixAttempted {
                tier,
                attempt,
                diagnosis,
                action,
                outcome,
                ..
            } => Some(FixRecord {
                tier,
                attempt,
                diagnosis: diagnosis
                    .lines()
                    .take(FIX_DIAGNOSIS_LINES)
                    .collect::<Vec<_>>()
                    .join("\n"),
                action,
                outcome,
            }),
            _ => None,
        })
        .collect()
}

/// What reviewers see: the code, the requirements, the test run, the fixes.
fn bundle(ctx: &Context, state: &Deployment, synthesis: Option<Answer>) -> ReviewBundle {
    ReviewBundle {
        app: ctx.app.clone(),
        release: ctx.release.clone(),
        round: state.round,
        code_dir: ctx.paths.code.clone(),
        requirements_path: ctx.paths.requirements.clone(),
        requirements: std::fs::read_to_string(&ctx.paths.requirements).unwrap_or_default(),
        tests_command: ctx.config.inputs.tests.clone(),
        test_run: last_test_run(ctx, state),
        synthesis,
        fix_history: fix_history(ctx),
    }
}

/// Tokens of code a bundle carries when the member's config does not say.
const DEFAULT_BUDGET_TOKENS: u64 = 60_000;
/// A model's answer limit when the member's config does not say.
const DEFAULT_MAX_TOKENS: u64 = 4_000;
/// Retries of a model call when the member's config does not say.
const DEFAULT_RETRIES: u32 = 3;

fn member(ctx: &Context, name: &str) -> Arc<dyn Member> {
    if let Some(member) = builtin(name, ctx.config.review.quorum) {
        return member;
    }
    match seat(ctx, name) {
        Seat::Command(member) => Arc::new(member),
        Seat::Model(member) => Arc::new(member),
        Seat::Unavailable(why) => Arc::new(Unavailable {
            name: name.to_string(),
            why,
        }),
    }
}

/// A configured member, made ready to call, or why it cannot be.
enum Seat {
    Command(CommandMember),
    Model(ModelMember),
    Unavailable(String),
}

fn seat(ctx: &Context, name: &str) -> Seat {
    let Some(config) = ctx.config.members.get(name).map(|m| m.get_ref()) else {
        return Seat::Unavailable(format!("no member {name} is configured"));
    };
    // Configured secrets, and any key the release itself leaked.
    let redactor = ctx.redactor();
    let redact = Box::new(move |text: &str| redactor.redact(&redact_key_material(text)));
    let budget_tokens = config.budget_tokens.map_or(DEFAULT_BUDGET_TOKENS, |b| b.0) as usize;
    let api = match config.kind {
        MemberKind::Command => {
            return Seat::Command(CommandMember {
                name: name.to_string(),
                command: config.command.clone().unwrap_or_default(),
                timeout: member_timeout(ctx, name),
                budget_tokens,
                redact,
            });
        }
        MemberKind::Openai => Api::OpenAi,
        MemberKind::Anthropic => Api::Anthropic,
    };
    let api_key = match &config.api_key_env {
        None => None,
        Some(variable) => match std::env::var(variable.as_str()) {
            Ok(key) if !key.is_empty() => Some(key),
            _ => {
                return Seat::Unavailable(format!(
                    "its API key variable {} is not set in the control plane's environment",
                    variable.as_str()
                ));
            }
        },
    };
    let default_url = match api {
        Api::OpenAi => "https://api.openai.com/v1",
        Api::Anthropic => "https://api.anthropic.com",
    };
    Seat::Model(ModelMember {
        name: name.to_string(),
        api,
        base_url: config
            .base_url
            .clone()
            .unwrap_or_else(|| default_url.into()),
        model: config.model.clone().unwrap_or_default(),
        api_key,
        timeout: member_timeout(ctx, name),
        max_tokens: config.max_tokens.map_or(DEFAULT_MAX_TOKENS, |m| m.0) as u32,
        retries: config.retries.map_or(DEFAULT_RETRIES, |r| r.count()),
        budget_tokens,
        redact,
    })
}

/// The Senior called `name`: the built-in rule-based synthesis, or a model.
fn synthesizer(ctx: &Context, name: &str) -> Result<Arc<dyn Synthesizer>, String> {
    if let Some(synthesizer) = builtin_synthesizer(name, ctx.config.review.quorum) {
        return Ok(synthesizer);
    }
    match seat(ctx, name) {
        Seat::Model(member) => Ok(Arc::new(member)),
        Seat::Command(_) => Err(format!(
            "senior {name} is a command; the Senior is the built-in synthesis or a model"
        )),
        Seat::Unavailable(why) => Err(format!("senior {name}: {why}")),
    }
}

/// How long a member may take: its config's `timeout_s`, or the default.
fn member_timeout(ctx: &Context, name: &str) -> Duration {
    ctx.config
        .members
        .get(name)
        .and_then(|m| m.get_ref().timeout_s)
        .map_or(MEMBER_TIMEOUT, |t| Duration::from_secs(t.0))
}

/// A member that cannot be called (not configured, its key missing): it
/// abstains, saying why, which never counts as approval.
struct Unavailable {
    name: String,
    why: String,
}

#[async_trait::async_trait]
impl Member for Unavailable {
    fn name(&self) -> &str {
        &self.name
    }

    async fn review(&self, _bundle: &ReviewBundle) -> Answer {
        Answer::abstain("unavailable", format!("member {}: {}", self.name, self.why))
    }
}

/// Every member asked at once, every one awaited; a late or crashed one
/// abstains.
async fn panel(ctx: &Context, role: Role, members: &[String], bundle: ReviewBundle) -> Vec<Input> {
    let bundle = Arc::new(bundle);
    let mut asks = tokio::task::JoinSet::new();
    for (index, name) in members.iter().enumerate() {
        let member = member(ctx, name);
        let bundle = bundle.clone();
        // A backstop: members that call out keep their own timeout, a little
        // shorter, and say more about what ran out.
        let limit = member_timeout(ctx, name) + Duration::from_secs(5);
        asks.spawn(async move {
            let answer = match tokio::time::timeout(limit, member.review(&bundle)).await {
                Ok(answer) => answer,
                Err(_) => {
                    Answer::abstain("timeout", format!("no answer within {} s", limit.as_secs()))
                }
            };
            (index, answer)
        });
    }
    let mut answers: Vec<Option<Answer>> = vec![None; members.len()];
    while let Some(joined) = asks.join_next().await {
        if let Ok((index, answer)) = joined {
            answers[index] = Some(answer);
        }
    }
    members
        .iter()
        .zip(answers)
        .map(|(member, answer)| {
            let answer =
                answer.unwrap_or_else(|| Answer::abstain("crashed", "the review task panicked"));
            Input::Verdict {
                role,
                member: member.clone(),
                model: answer.model,
                verdict: answer.verdict,
                summary: answer.summary,
                findings: answer.findings,
                usage: answer.usage,
            }
        })
        .collect()
}

/// The tier's members as fixers: the Senior, or the Trio in order.
fn tier_fixers(ctx: &Context, tier: Tier) -> TierFixers {
    let members: Vec<String> = match tier {
        Tier::Senior => vec![ctx.config.review.senior.get_ref().clone()],
        _ => ctx
            .config
            .review
            .trio
            .iter()
            .map(|m| m.get_ref().clone())
            .collect(),
    };
    TierFixers {
        seats: members
            .into_iter()
            .map(|name| {
                let fixer = member_fixer(ctx, &name);
                (name, fixer)
            })
            .collect(),
    }
}

/// How member `name` fixes: its `fix_command` (an agent run in the code
/// directory), or as a model returning a patch; or why it cannot.
fn member_fixer(ctx: &Context, name: &str) -> FixerSeat {
    let configured = ctx.config.members.get(name).map(|m| m.get_ref());
    if let Some(command) = configured.and_then(|m| m.fix_command.clone()) {
        return Ok(Box::new(CommandFixer {
            name: name.to_string(),
            command,
            timeout: member_timeout(ctx, name),
        }));
    }
    if configured.is_none() {
        return Err("a built-in reviewer, it does not change code".into());
    }
    match seat(ctx, name) {
        Seat::Model(member) => Ok(Box::new(ModelFixer { member })),
        Seat::Command(_) => Err("a command member without `fix_command`".into()),
        Seat::Unavailable(why) => Err(why),
    }
}

async fn fix(ctx: &Context, tier: Tier, attempt: u32, diagnosis: &str) -> Input {
    let request = FixRequest {
        app: ctx.app.clone(),
        release: ctx.release.clone(),
        tier,
        attempt,
        diagnosis: diagnosis.to_string(),
        code_dir: ctx.paths.code.clone(),
        requirements: std::fs::read_to_string(&ctx.paths.requirements).unwrap_or_default(),
    };
    let report = tier_fixers(ctx, tier).fix(&request).await;
    Input::FixDone {
        action: report.action,
        outcome: report.outcome,
        patches: report.patches,
    }
}

/// The Trio: reviews in parallel, and Trio-tier fixes.
pub async fn trio(job: Job) {
    let ctx = &job.context;
    let inputs = match &job.effect {
        Effect::Review { role, members, .. } => {
            let bundle = bundle(ctx, &job.state, None);
            panel(ctx, *role, members, bundle).await
        }
        Effect::ApplyFix {
            tier,
            attempt,
            diagnosis,
            ..
        } => vec![fix(ctx, *tier, *attempt, diagnosis).await],
        other => failed(format!("{other:?} is not the Trio's to do")),
    };
    job.answer(inputs);
}

/// The Senior: the synthesis over anonymized verdicts, and Senior-tier fixes.
pub async fn senior(job: Job) {
    let ctx = &job.context;
    let inputs = match &job.effect {
        Effect::Synthesize { member, .. } => {
            match synthesizer(ctx, member) {
                Ok(synthesizer) => {
                    let verdicts: Vec<Anonymized> = job
                        .state
                        .trio_reviews
                        .iter()
                        .enumerate()
                        .map(|(i, review)| Anonymized {
                            label: anonymous_label(i),
                            answer: Answer {
                                verdict: review.verdict,
                                summary: String::new(),
                                findings: review.findings.clone(),
                                model: String::new(),
                                usage: None,
                            },
                        })
                        .collect();
                    let bundle = bundle(ctx, &job.state, None);
                    // Like a Trio member, the Senior answers in time or abstains.
                    let limit = member_timeout(ctx, member) + Duration::from_secs(5);
                    let answer =
                        tokio::time::timeout(limit, synthesizer.synthesize(&verdicts, &bundle))
                            .await
                            .unwrap_or_else(|_| {
                                Answer::abstain(
                                    "timeout",
                                    format!("no answer within {} s", limit.as_secs()),
                                )
                            });
                    vec![Input::Synthesis {
                        member: member.clone(),
                        model: answer.model,
                        verdict: answer.verdict,
                        summary: answer.summary,
                        findings: answer.findings,
                        usage: answer.usage,
                    }]
                }
                Err(why) => vec![Input::Synthesis {
                    member: member.clone(),
                    model: "unavailable".into(),
                    verdict: crate::events::Verdict::Abstain,
                    summary: why,
                    findings: Vec::new(),
                    usage: None,
                }],
            }
        }
        Effect::ApplyFix {
            tier,
            attempt,
            diagnosis,
            ..
        } => vec![fix(ctx, *tier, *attempt, diagnosis).await],
        other => failed(format!("{other:?} is not the Senior's to do")),
    };
    job.answer(inputs);
}

/// The Juniors: each reviews the synthesis, in parallel.
pub async fn junior(job: Job) {
    let ctx = &job.context;
    let inputs = match &job.effect {
        Effect::Review { role, members, .. } => {
            let synthesis = job.state.synthesis.as_ref().map(|s| Answer {
                verdict: s.verdict,
                summary: String::new(),
                findings: s.findings.clone(),
                model: String::new(),
                usage: None,
            });
            let bundle = bundle(ctx, &job.state, synthesis);
            panel(ctx, *role, members, bundle).await
        }
        other => failed(format!("{other:?} is not a Junior's to do")),
    };
    job.answer(inputs);
}

/// The context of the deployment that brought `release` of this app live,
/// to start it again in a rollback: blue's own deployment when it is blue
/// coming back, else the latest deployment of that release that went live
/// (which the read model keeps).
pub fn context_of_release(ctx: &Context, state: &Deployment, release: &str) -> Option<Context> {
    let from_blue = state
        .blue
        .as_ref()
        .filter(|blue| blue.release == release)
        .and_then(|blue| blue.deployment_id());
    let stream =
        from_blue.or_else(|| ctx.services.model.read().deployment_of(&ctx.app, release))?;
    let events = ctx.services.store.read_stream(stream, 0).ok()?;
    let request = events.first()?;
    let mut context = Context::from_request(stream, &request.event, &ctx.services).ok()?;
    // The code it ran, to start again from its snapshot.
    context.digest = Deployment::fold(events.iter().map(|e| &e.event)).digest;
    Some(context)
}
