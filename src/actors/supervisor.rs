//! The Supervisor: starts the worker actors, a Driver per deployment, and
//! at start resumes every deployment the log shows in flight. It holds the
//! per-app lock (one deployment per app at a time), taken by appending the
//! deployment's first event, so the lock survives a crash with the log.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::context::Services;
use super::driver::{Driver, DriverArgs, WorkerRefs, Workers};
use super::messages::{DeployRequest, DriverMsg, Refused, Resumed, SupervisorMsg, WorkerKind};
use super::workers::Worker;
use crate::config::Config;
use crate::events::{Event, StreamId};
use crate::flow::Input;

/// How often a Driver that failed is started again before its deployment
/// is left for `deployflow resume`.
const DRIVER_RESTARTS: u32 = 3;

/// How often a log whose writer stopped (a full disk) is tried again.
const LOG_RETRY: Duration = Duration::from_secs(1);

/// The deployments in flight without a Driver, each given one; said in the
/// control plane's log so a restart never resumes silently.
async fn resume_all(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
) -> Result<Vec<Resumed>, ActorProcessingErr> {
    let in_flight: Vec<Resumed> = {
        let model = state.services.model.read();
        model
            .in_flight()
            .into_iter()
            .filter(|id| !state.drivers.contains_key(id))
            .filter_map(|id| {
                let record = model.record(id)?;
                Some(Resumed {
                    id,
                    app: record.app.clone(),
                    release: record.release.clone(),
                    phase: record.stage.clone(),
                })
            })
            .collect()
    };
    let mut started = Vec::with_capacity(in_flight.len());
    for resumed in in_flight {
        tracing::warn!(
            deployment = %resumed.id,
            "resuming {} {} from phase {}",
            resumed.app,
            resumed.release,
            resumed.phase
        );
        if start_driver(myself, state, resumed.id, true).await.is_ok() {
            started.push(resumed);
        }
    }
    Ok(started)
}

pub struct Supervisor;

pub struct SupervisorState {
    services: Services,
    workers: Workers,
    drivers: HashMap<StreamId, ActorRef<DriverMsg>>,
    by_actor: HashMap<ActorId, StreamId>,
    worker_kinds: HashMap<ActorId, WorkerKind>,
    restarts: HashMap<StreamId, u32>,
    /// Deployments whose Driver stopped because the log could not be
    /// written: they resume from the log once it can be.
    parked: HashSet<StreamId>,
}

#[ractor::async_trait]
impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Services;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        services: Services,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut worker_kinds = HashMap::new();
        let mut spawn = async |kind: WorkerKind| -> Result<
            ActorRef<crate::actors::messages::WorkerMsg>,
            ActorProcessingErr,
        > {
            let (worker, _) = Actor::spawn_linked(None, Worker, kind, myself.get_cell()).await?;
            worker_kinds.insert(worker.get_id(), kind);
            Ok(worker)
        };
        let workers = WorkerRefs {
            environment: spawn(WorkerKind::Environment).await?,
            trio: spawn(WorkerKind::Trio).await?,
            senior: spawn(WorkerKind::Senior).await?,
            junior: spawn(WorkerKind::Junior).await?,
        };
        let workers: Workers = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(workers));
        let mut state = SupervisorState {
            services,
            workers,
            drivers: HashMap::new(),
            by_actor: HashMap::new(),
            worker_kinds,
            restarts: HashMap::new(),
            parked: HashSet::new(),
        };
        catch_up(&mut state)?;
        resume_all(&myself, &mut state).await?;
        tokio::spawn(keep_log_writable(
            state.services.store.clone(),
            myself.clone(),
        ));
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Deploy(request, reply) => {
                let result = deploy(&myself, state, request).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::Command { id, input, reply } => {
                catch_up(state)?;
                let ended = state.services.model.read().record(id).map(|r| r.outcome);
                match ended {
                    None => {
                        let _ = reply.send(Err(Refused::NotFound(format!("no deployment {id}"))));
                    }
                    Some(Some(outcome)) => {
                        let _ = reply.send(Err(crate::flow::Refusal::Finished(outcome).into()));
                    }
                    Some(None) => {
                        let driver = match start_driver(&myself, state, id, false).await {
                            Ok(driver) => driver,
                            Err(e) => {
                                let _ = reply.send(Err(Refused::Failed(e.to_string())));
                                return Ok(());
                            }
                        };
                        // The Driver's answer, its refusal kept as it is;
                        // awaited in a task, so this mailbox does not wait.
                        tokio::spawn(async move {
                            let _ = reply.send(command(&driver, input).await);
                        });
                    }
                }
            }
            SupervisorMsg::ForApp {
                app,
                input,
                to,
                reply,
            } => {
                // Awaited here, not in a task: the rollback's first event takes
                // the app's lock, and no deploy may slip in before it.
                let result = match rollback(&myself, state, &app, input, to).await {
                    Ok((driver, input, id)) => command(&driver, input).await.map(|v| (id, v)),
                    Err(refused) => Err(refused),
                };
                catch_up(state)?;
                let _ = reply.send(result);
            }
            SupervisorMsg::Resume(reply) => {
                catch_up(state)?;
                let resumed = resume_all(&myself, state).await?;
                let _ = reply.send(resumed);
            }
            SupervisorMsg::Ended(id) => {
                if let Some(driver) = state.drivers.remove(&id) {
                    state.by_actor.remove(&driver.get_id());
                }
                catch_up(state)?;
            }
            SupervisorMsg::CheckLog => resume_parked(&myself, state).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                on_failure(&myself, state, cell, error.to_string()).await?;
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = state.by_actor.remove(&cell.get_id()) {
                    state.drivers.remove(&id);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Folds the log's new events into the read model. A failure (a full
/// disk) leaves it as it was and is reported by the health check; the
/// Supervisor stays up, so the control plane answers and says why.
fn catch_up(state: &mut SupervisorState) -> Result<(), ActorProcessingErr> {
    if let Err(e) = state.services.model.catch_up() {
        tracing::error!("the read model cannot follow the log: {e}");
    }
    Ok(())
}

/// Keeps the log writable, on its own task so the Supervisor's mailbox
/// never waits on the disk: every `LOG_RETRY` it opens a log whose writer
/// stopped again (after an IO error sled met), and tells the Supervisor to
/// resume what was parked (also after a commit refused for want of space,
/// once space is freed).
async fn keep_log_writable(store: crate::events::EventStore, supervisor: ActorRef<SupervisorMsg>) {
    let mut every = tokio::time::interval(LOG_RETRY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Why the last reopen failed, so each reason is said once, not every second.
    let mut said: Option<String> = None;
    loop {
        every.tick().await;
        let probe = store.clone();
        let stopped = tokio::task::spawn_blocking(move || {
            let reason = probe.writer_stopped()?;
            Some((reason, probe.reopen()))
        })
        .await;
        match stopped {
            Ok(None) | Ok(Some((_, Ok(false)))) => {}
            Ok(Some((reason, Ok(true)))) => {
                said = None;
                tracing::warn!(
                    "the event log was opened again after its writer stopped ({reason})"
                );
            }
            Ok(Some((_, Err(e)))) => {
                let reason = e.to_string();
                if said.as_ref() != Some(&reason) {
                    tracing::warn!("the event log cannot be opened again yet: {reason}");
                    said = Some(reason);
                }
            }
            Err(e) => tracing::error!("keeping the event log writable panicked: {e}"),
        }
        if supervisor.cast(SupervisorMsg::CheckLog).is_err() {
            return;
        }
    }
}

/// Once the log can be written, the read model catches up with what the
/// reopen found and the deployments parked for it resume from the log, as
/// after a restart.
async fn resume_parked(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
    let writable = state.services.store.writer_stopped().is_none();
    let behind = state.services.model.trouble().is_some();
    if !writable || (state.parked.is_empty() && !behind) {
        return;
    }
    if let Err(e) = state.services.model.catch_up() {
        tracing::debug!("the read model cannot follow the log yet: {e}");
        return;
    }
    for id in std::mem::take(&mut state.parked) {
        let in_flight = state
            .services
            .model
            .read()
            .record(id)
            .is_some_and(|record| record.outcome.is_none());
        if !in_flight {
            continue;
        }
        tracing::warn!(deployment = %id, "the event log can be written again: resuming it");
        if let Err(e) = start_driver(myself, state, id, true).await {
            tracing::error!(deployment = %id, "cannot resume it: {e}");
        }
    }
}

/// Starts the Driver of `id` (or finds it running). While the log cannot
/// be written, none starts: the deployment is parked until it can.
async fn start_driver(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    id: StreamId,
    advance: bool,
) -> Result<ActorRef<DriverMsg>, ActorProcessingErr> {
    if let Some(driver) = state.drivers.get(&id) {
        return Ok(driver.clone());
    }
    if let Some(reason) = state.services.store.writer_stopped() {
        if state.parked.insert(id) {
            tracing::warn!(deployment = %id, "the event log cannot be written ({reason}): its Driver resumes once it can");
        }
        return Err(format!("the event log cannot be written: {reason}").into());
    }
    let args = DriverArgs {
        id,
        services: state.services.clone(),
        workers: state.workers.clone(),
        supervisor: myself.clone(),
    };
    let (driver, _) = Actor::spawn_linked(None, Driver, args, myself.get_cell()).await?;
    state.by_actor.insert(driver.get_id(), id);
    state.drivers.insert(id, driver.clone());
    if advance {
        let _ = driver.cast(DriverMsg::Advance);
    }
    Ok(driver)
}

async fn deploy(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    request: DeployRequest,
) -> Result<StreamId, Refused> {
    if let Some(problem) = crate::config::release_problem(&request.release) {
        return Err(Refused::Invalid(problem));
    }
    let path = std::path::Path::new(&request.base_dir).join("deployflow.toml");
    let config =
        Config::parse(&request.config_text, &path).map_err(|e| Refused::Invalid(e.to_string()))?;
    // The app's lock and what is live are read from it: refused rather
    // than decided on a model that could not follow the log.
    state
        .services
        .model
        .catch_up()
        .map_err(|e| Refused::Failed(format!("the read model cannot follow the log: {e}")))?;
    let app = config.app.name.to_string();
    let current = state
        .services
        .model
        .read()
        .app(&app)
        .cloned()
        .unwrap_or_default();
    if let Some(holder) = current.active {
        return Err(Refused::Locked { app, holder });
    }
    let id = StreamId::new();
    let requested = Event::DeploymentRequested {
        app,
        release: request.release,
        requested_by: request.requested_by,
        config: request.config_text,
        rollback_to: current.live.as_ref().map(|l| l.release.clone()),
        commit: request.commit,
        committed_at: request.committed_at,
        blue: current.live.clone(),
        base_dir: Some(request.base_dir),
    };
    state
        .services
        .store
        .append(id, 0, &[requested])
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?;
    crate::crash_points::after_event("deployment_requested");
    // The app's lock and what is live are read from it: refused rather
    // than decided on a model that could not follow the log.
    state
        .services
        .model
        .catch_up()
        .map_err(|e| Refused::Failed(format!("the read model cannot follow the log: {e}")))?;
    start_driver(myself, state, id, true)
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?;
    Ok(id)
}

async fn rollback(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    app: &str,
    input: Input,
    to: Option<String>,
) -> Result<(ActorRef<DriverMsg>, Input, StreamId), Refused> {
    // The app's lock and what is live are read from it: refused rather
    // than decided on a model that could not follow the log.
    state
        .services
        .model
        .catch_up()
        .map_err(|e| Refused::Failed(format!("the read model cannot follow the log: {e}")))?;
    let current = state
        .services
        .model
        .read()
        .app(app)
        .cloned()
        .ok_or_else(|| Refused::NotFound(format!("no app named {app} in the log")))?;
    if let Some(holder) = current.active {
        // An unfinished deployment rolls back through its own Driver.
        let driver = start_driver(myself, state, holder, false)
            .await
            .map_err(|e| Refused::Failed(e.to_string()))?;
        return Ok((driver, input, holder));
    }
    let live = current
        .live
        .ok_or_else(|| Refused::NotFound(format!("nothing of {app} is live")))?;
    let Some(id) = live.deployment_id() else {
        return Err(Refused::NotFound(format!(
            "no deployment brought {} live",
            live.release
        )));
    };
    if let Some(release) = &to
        && state
            .services
            .model
            .read()
            .deployment_of(app, release)
            .is_none()
    {
        return Err(Refused::NotFound(format!(
            "{app} has no release {release} to return to"
        )));
    }
    let input = match input {
        Input::Rollback { by, reason, .. } => Input::Rollback {
            by,
            reason,
            to_release: to,
        },
        other => other,
    };
    let driver = start_driver(myself, state, id, false)
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?;
    Ok((driver, input, id))
}

async fn command(driver: &ActorRef<DriverMsg>, input: Input) -> Result<u64, Refused> {
    let answer = driver
        .call(|reply| DriverMsg::Command { input, reply }, None)
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?;
    match answer {
        ractor::rpc::CallResult::Success(result) => result.map_err(Refused::Flow),
        _ => Err(Refused::Failed(
            "the deployment's Driver did not answer".into(),
        )),
    }
}

async fn on_failure(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    cell: ActorCell,
    error: String,
) -> Result<(), ActorProcessingErr> {
    let actor = cell.get_id();
    if let Some(kind) = state.worker_kinds.remove(&actor) {
        // Workers keep no state: a new one takes over.
        tracing::error!("the {kind:?} actor failed ({error}); starting a new one");
        let (worker, _) = Actor::spawn_linked(None, Worker, kind, myself.get_cell()).await?;
        state.worker_kinds.insert(worker.get_id(), kind);
        let mut refs = WorkerRefs::clone(&state.workers.load());
        match kind {
            WorkerKind::Environment => refs.environment = worker,
            WorkerKind::Trio => refs.trio = worker,
            WorkerKind::Senior => refs.senior = worker,
            WorkerKind::Junior | WorkerKind::Driver => refs.junior = worker,
        }
        state.workers.store(std::sync::Arc::new(refs));
        return Ok(());
    }
    let Some(id) = state.by_actor.remove(&actor) else {
        return Ok(());
    };
    state.drivers.remove(&id);
    if let Some(reason) = state.services.store.writer_stopped() {
        // Not the Driver's fault: it goes on from the log once the log
        // can be written, without spending its restarts.
        tracing::warn!(deployment = %id, "its Driver stopped ({error}): the event log cannot be written ({reason}); it resumes once it can");
        state.parked.insert(id);
        return Ok(());
    }
    let restarts = state.restarts.entry(id).or_insert(0);
    *restarts += 1;
    if *restarts > DRIVER_RESTARTS {
        // Unsafe to go on: fail the deployment cleanly. The decision is the
        // flow's (green is stopped, blue untouched); one more Driver carries
        // out that stop, and if even that fails, `deployflow resume` retries.
        tracing::error!(deployment = %id, "its Driver failed {DRIVER_RESTARTS} times ({error}); failing the deployment");
        fail_deployment(state, id, &error).await;
        catch_up(state)?;
        if state.restarts.get(&id).copied().unwrap_or(0) > DRIVER_RESTARTS + 1 {
            return Ok(());
        }
    }
    // A Driver's state is its stream: a new one folds it and goes on.
    tracing::warn!(deployment = %id, "its Driver failed ({error}); starting it again");
    catch_up(state)?;
    if let Err(e) = start_driver(myself, state, id, true).await {
        tracing::error!(deployment = %id, "cannot start its Driver again: {e}");
    }
    Ok(())
}

/// Appends the flow's answer to "this deployment cannot go on".
async fn fail_deployment(state: &mut SupervisorState, id: StreamId, error: &str) {
    let Ok(envelopes) = state.services.store.read_stream(id, 0) else {
        return;
    };
    let flow = crate::flow::Deployment::fold(envelopes.iter().map(|e| &e.event));
    let input = Input::EffectFailed {
        reason: format!("its Driver kept failing: {error}"),
    };
    if let Ok(events) = crate::flow::decide(&flow, input)
        && let Err(e) = state.services.store.append(id, flow.version, &events).await
    {
        tracing::error!(deployment = %id, "cannot record its failure: {e}");
    }
}
