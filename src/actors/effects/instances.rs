//! Instance operations: inputs checked against the backend, starts (from
//! the release's snapshot), health, stops, the switch, the drain, and the
//! Driver tier's remedies.

use std::path::PathBuf;
use std::time::Duration;

use super::super::context::Context;
use super::super::messages::Job;
use super::failed;
use crate::adapters::backend::{BuildSpec, InstanceSpec};
use crate::adapters::health::{HealthCheck, wait_healthy};
use crate::adapters::router_client::DrainReport;
use crate::adapters::snapshot_release;
use crate::events::payloads::{Drained, FixAttempted, GreenStarted};
use crate::events::{FixOutcome, Slot, Tier};
use crate::flow::fix_loop::{BACK_OFF, NEW_PORT, RECREATE, RERUN};
use crate::flow::{Deployment, Input, Remedy};

/// Prepare's checks: the inputs, then whether the backend can start
/// anything at all.
pub async fn validate_inputs(ctx: &Context) -> Vec<Input> {
    let config = ctx.config.clone();
    let base = ctx.base.clone();
    let checked =
        tokio::task::spawn_blocking(move || crate::adapters::inputs::check(&config, &base)).await;
    match checked {
        Ok(mut check) => {
            backend_ready(ctx, &mut check).await;
            vec![Input::InputsChecked {
                checked: check.checked,
                missing: check.missing,
            }]
        }
        Err(e) => failed(format!("checking the inputs failed: {e}")),
    }
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

/// Starts `release` in `slot`. A rollback after promotion starts another
/// release, as the deployment that brought it configured it.
pub async fn start_instance(
    job: &Job,
    slot: Slot,
    release: &str,
    attempt: u32,
    fresh_port: bool,
) -> Input {
    let ctx = &job.context;
    let source = match &job.restore {
        Some(restore) if release != ctx.release => restore.as_ref(),
        _ => ctx.as_ref(),
    };
    start(source, ctx, slot, release, attempt, fresh_port).await
}

/// Waits for `slot` to answer its health check; a restored release is
/// checked as its own config says.
pub async fn wait_until_healthy(job: &Job, slot: Slot, endpoint: &str) -> Input {
    let ctx = &job.context;
    let source = match &job.restore {
        Some(restore) if slot != job.state.green_slot => restore.as_ref(),
        _ => ctx.as_ref(),
    };
    let health = &source.config.health;
    let check = HealthCheck {
        app: ctx.app.clone(),
        slot,
        endpoint: endpoint.to_string(),
        path: health.path.as_str().to_string(),
        interval: Duration::from_millis(health.interval_ms.0),
        deadline: Duration::from_secs(health.deadline_s.0),
    };
    match wait_healthy(&check, ctx.backend()).await {
        Ok(healthy) => Input::Healthy(healthy),
        Err(unhealthy) => Input::Unhealthy(unhealthy),
    }
}

pub async fn stop_instance(ctx: &Context, slot: Slot, retain: bool) -> Vec<Input> {
    match ctx.backend().stop(&ctx.app, slot, retain).await {
        Ok(()) => vec![Input::InstanceStopped],
        Err(e) => failed(e.to_string()),
    }
}

/// Points the app's route at `endpoint`, then names `to` the live instance.
pub async fn switch_traffic(job: &Job, endpoint: &str, to: Slot) -> Vec<Input> {
    let ctx = &job.context;
    let backend = ctx.backend();
    let router = ctx.router();
    // Announced before a crash: the route may already be the new one.
    let done = job.resumed && matches!(router.route(&ctx.app).await, Ok(Some(u)) if u == endpoint);
    if !done {
        let switched = async {
            router.ensure_running().await?;
            router
                .set_route(&ctx.app, ctx.config.router.listen.0, endpoint)
                .await
        };
        if let Err(e) = switched.await {
            // The route may have been taken before the answer was lost:
            // what the router serves now decides.
            let taken = matches!(router.route(&ctx.app).await, Ok(Some(u)) if u == endpoint);
            if !taken {
                return failed(e.to_string());
            }
        }
    }
    promote(ctx, backend.as_ref(), to).await;
    vec![Input::Switched]
}

/// Waits until nothing is in flight to what served from `slot`.
pub async fn drain(ctx: &Context, state: &Deployment, slot: Slot) -> Input {
    let report = wait_drained(ctx, &endpoint_of(state, slot)).await;
    Input::Drained(Drained {
        slot,
        remaining: report.in_flight,
        waited_ms: report.waited_ms,
        timed_out: !report.drained,
    })
}

/// Waits until the router has no request in flight to `upstream`, which
/// no route sends new ones to any more, or until `router.drain_timeout_s`.
/// What the router cannot count is waited out, as a drain that timed out.
pub async fn wait_drained(ctx: &Context, upstream: &str) -> DrainReport {
    let timeout = Duration::from_secs(ctx.config.router.drain_timeout_s.0);
    let router = ctx.router();
    let drained = async {
        router.ensure_running().await?;
        router.drain(upstream, timeout).await
    };
    match drained.await {
        Ok(report) => report,
        Err(e) => {
            tracing::warn!(app = %ctx.app, "drain not measured ({e}); waiting it out");
            tokio::time::sleep(timeout).await;
            DrainReport {
                in_flight: 0,
                waited_ms: timeout.as_millis() as u64,
                drained: false,
            }
        }
    }
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
        container_port: runtime.container_port,
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
        Ok(instance) => Input::InstanceStarted(GreenStarted {
            slot,
            endpoint: instance.endpoint,
            instance: instance.id,
            digest: code.digest,
        }),
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

/// The Driver tier's remedies: restarts that change no code.
pub async fn driver_remedy(
    ctx: &Context,
    state: &Deployment,
    attempt: u32,
    diagnosis: &str,
    remedy: &Remedy,
) -> Input {
    let attempted = |action: String, outcome| {
        Input::FixDone(FixAttempted {
            tier: Tier::Driver,
            attempt,
            diagnosis: diagnosis.to_string(),
            action,
            outcome,
            patches: Vec::new(),
        })
    };
    // A re-run of the tests needs green as it is.
    if *remedy == Remedy::Rerun {
        return attempted(
            format!("{RERUN}: the tests run again against the same green"),
            FixOutcome::Applied,
        );
    }
    if let Err(e) = ctx.backend().stop(&ctx.app, state.green_slot, false).await {
        return attempted(
            format!("could not stop green to restart it: {e}"),
            FixOutcome::NotApplied,
        );
    }
    let action = match remedy {
        Remedy::Recreate => format!("{RECREATE}: stopped green to start it afresh"),
        Remedy::NewPort => format!("{NEW_PORT}: stopped green to start it on another port"),
        Remedy::BackOff { ms } => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            format!("{BACK_OFF}: waited {ms} ms for dependencies, then start afresh")
        }
        Remedy::Fixer { tier } => format!("{} fixes are not the driver tier's", tier.words()),
        Remedy::Rerun => RERUN.to_string(),
    };
    attempted(action, FixOutcome::Applied)
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
