//! The Driver: one per deployment in flight. It folds its stream into the
//! flow's state, asks `flow::next_step` what to do, hands the effect to the
//! actor that does it (or to a task it spawns), and turns the answer into
//! events with `flow::decide`. Its mailbox never waits on slow work; it
//! waits only for its own appends, which is what orders its state.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::context::{Context, Services};
use super::effects;
use super::messages::WorkerKind;
use super::messages::{DriverMsg, Job, SupervisorMsg, WorkerMsg};
use super::redact::redact;
use super::workers::perform;
use crate::events::{Event, StreamId};
use crate::flow::{Deployment, Effect, Input, Step, background_step, decide, next_step};

/// The actors a Driver hands effects to.
#[derive(Clone)]
pub struct WorkerRefs {
    pub environment: ActorRef<WorkerMsg>,
    pub trio: ActorRef<WorkerMsg>,
    pub senior: ActorRef<WorkerMsg>,
    pub junior: ActorRef<WorkerMsg>,
}

/// Shared with the Supervisor, which swaps in a new worker when one fails,
/// so every Driver sends to the live one.
pub type Workers = std::sync::Arc<arc_swap::ArcSwap<WorkerRefs>>;

pub struct Driver;

pub struct DriverArgs {
    pub id: StreamId,
    pub services: Services,
    pub workers: Workers,
    pub supervisor: ActorRef<SupervisorMsg>,
}

pub struct DriverState {
    id: StreamId,
    services: Services,
    workers: Workers,
    supervisor: ActorRef<SupervisorMsg>,
    /// `None` when the logged config no longer parses: every effect then
    /// fails the deployment cleanly.
    context: Option<Arc<Context>>,
    flow: Deployment,
    /// The effect in progress, by token.
    waiting: Option<u64>,
    tokens: u64,
    /// A command changed the flow while an effect ran: its answer may no
    /// longer fit, and is dropped rather than failing the deployment.
    intervened: bool,
    /// The effect this Driver announced itself, with the events that made
    /// it the next step: not a leftover from before a crash.
    announced: Option<String>,
    /// Cancels the effect in progress (a command left its step).
    cancel: Option<tokio::sync::watch::Sender<bool>>,
    /// The background analysis' measurement in progress, by token: a
    /// second lane beside the steps (`flow::background_step`).
    background: Option<u64>,
}

#[ractor::async_trait]
impl Actor for Driver {
    type Msg = DriverMsg;
    type State = DriverState;
    type Arguments = DriverArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<DriverMsg>,
        args: DriverArgs,
    ) -> Result<DriverState, ActorProcessingErr> {
        let envelopes = args.services.store.read_stream(args.id, 0)?;
        let events: Vec<Event> = envelopes.into_iter().map(|e| e.event).collect();
        let flow = Deployment::fold(&events);
        let context = events
            .first()
            .and_then(|first| Context::from_request(args.id, first, &args.services).ok())
            .map(Arc::new);
        Ok(DriverState {
            id: args.id,
            services: args.services,
            workers: args.workers,
            supervisor: args.supervisor,
            context,
            flow,
            waiting: None,
            tokens: 0,
            intervened: false,
            announced: None,
            cancel: None,
            background: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<DriverMsg>,
        message: DriverMsg,
        state: &mut DriverState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DriverMsg::Advance => advance(&myself, state).await?,
            DriverMsg::Results { token, inputs } if state.background == Some(token) => {
                state.background = None;
                background_results(state, inputs).await?;
                let _ = myself.cast(DriverMsg::Advance);
            }
            DriverMsg::Results { token, inputs } => {
                if state.waiting != Some(token) {
                    return Ok(());
                }
                state.waiting = None;
                state.cancel = None;
                let intervened = std::mem::take(&mut state.intervened);
                let redactor = state.redactor();
                if intervened {
                    // A command changed the flow while this effect ran: its
                    // answer is about a step the deployment left.
                    tracing::debug!(deployment = %state.id, "an answer after a command dropped");
                    let _ = myself.cast(DriverMsg::Advance);
                    return Ok(());
                }
                let count = inputs.len();
                for (i, input) in inputs.into_iter().enumerate() {
                    let input = redact(input, &redactor);
                    let events = match decide(&state.flow, input) {
                        Ok(events) => events,
                        Err(refusal) => {
                            let reason = format!("an effect's answer did not fit: {refusal}");
                            decide(&state.flow, Input::EffectFailed { reason }).unwrap_or_default()
                        }
                    };
                    if events.is_empty() {
                        continue;
                    }
                    // The next effect is announced with the last answer's events.
                    if i + 1 == count {
                        append_announcing(state, events).await?;
                    } else {
                        append(state, events).await?;
                    }
                }
                let _ = myself.cast(DriverMsg::Advance);
            }
            DriverMsg::Command { input, reply } => match decide(&state.flow, input) {
                Ok(events) => {
                    let before = state.flow.version;
                    append_announcing(state, events).await?;
                    if state.waiting.is_some() {
                        state.intervened = true;
                        // The step it was for is left: a health wait, a
                        // test run or a review is not waited for, so green
                        // stops and the lock goes at once.
                        if let Some(cancel) = &state.cancel {
                            cancel.send_replace(true);
                        }
                    }
                    let _ = reply.send(Ok(before));
                    let _ = myself.cast(DriverMsg::Advance);
                }
                Err(refusal) => {
                    let _ = reply.send(Err(refusal));
                    // Started only for this command (a finished deployment):
                    // nothing else to do.
                    if matches!(next_step(&state.flow), Step::Finished(_))
                        && state.waiting.is_none()
                    {
                        let _ = state.supervisor.cast(SupervisorMsg::Ended(state.id));
                        myself.stop(None);
                    }
                }
            },
        }
        Ok(())
    }
}

impl DriverState {
    /// Scrubs this deployment's secrets and, in a rollback, the restored
    /// release's.
    fn redactor(&self) -> crate::adapters::secrets::Redactor {
        let Some(context) = &self.context else {
            return Default::default();
        };
        let restored = self
            .flow
            .restore
            .as_ref()
            .and_then(|(release, _)| effects::context_of_release(context, &self.flow, release))
            .map(|c| c.redactor())
            .unwrap_or_default();
        context.redactor().and(restored)
    }
}

/// Appends a decision's events and, in the same commit, the announcement
/// of the effect they make next: one durable write instead of two.
async fn append_announcing(
    state: &mut DriverState,
    mut events: Vec<Event>,
) -> Result<(), ActorProcessingErr> {
    let mut next = state.flow.clone();
    for event in &events {
        next.apply(event);
    }
    state.announced = None;
    // Only when nothing is in flight: an answer still to come would find
    // its announcement overtaken.
    if state.waiting.is_none()
        && let Step::Do(effect) = next_step(&next)
    {
        events.push(Event::EffectStarted {
            effect: effect.name().to_string(),
        });
        state.announced = Some(effect.name().to_string());
    }
    append(state, events).await
}

fn cancellable(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::WaitHealthy { .. }
            | Effect::RunTests { .. }
            | Effect::Review { .. }
            | Effect::Synthesize { .. }
            | Effect::Measure { .. }
            | Effect::KeepBlue { .. }
            | Effect::Pause { .. }
            | Effect::WatchGreen
    )
}

async fn append(state: &mut DriverState, events: Vec<Event>) -> Result<(), ActorProcessingErr> {
    state
        .services
        .store
        .append(state.id, state.flow.version, &events)
        .await?;
    for event in &events {
        state.flow.apply(event);
        crate::crash_points::after_event(event.kind().name());
    }
    Ok(())
}

/// The background lane's answers: recorded when they still fit (the run
/// goes on), dropped when they do not (the canary moved on meanwhile);
/// never a failure of the deployment.
async fn background_results(
    state: &mut DriverState,
    inputs: Vec<Input>,
) -> Result<(), ActorProcessingErr> {
    let redactor = state.redactor();
    let before = next_step(&state.flow);
    for input in inputs {
        let Input::Measured(measurements) = redact(input, &redactor) else {
            continue;
        };
        match decide(&state.flow, Input::BackgroundMeasured(measurements)) {
            Ok(events) if !events.is_empty() => append(state, events).await?,
            Ok(_) => {}
            Err(refusal) => {
                tracing::debug!(deployment = %state.id, "a background measurement dropped: {refusal}")
            }
        }
    }
    // The run ended the step (a failure left the canary, an inconclusive
    // run opened the gate): the step's effect in flight is left, as for
    // a person's command.
    if state.waiting.is_some() && next_step(&state.flow) != before {
        state.intervened = true;
        if let Some(cancel) = &state.cancel {
            cancel.send_replace(true);
        }
    }
    Ok(())
}

/// Starts the background analysis' next measurement when one is due and
/// none is in progress.
fn advance_background(myself: &ActorRef<DriverMsg>, state: &mut DriverState) {
    if state.background.is_some() {
        return;
    }
    let (Some(effect), Some(context)) = (background_step(&state.flow), state.context.clone())
    else {
        return;
    };
    state.tokens += 1;
    state.background = Some(state.tokens);
    // Never cancelled: an answer that no longer fits is dropped.
    let (_cancel, cancelled) = tokio::sync::watch::channel(false);
    let job = Job {
        effect,
        token: state.tokens,
        context,
        state: Arc::new(state.flow.clone()),
        restore: None,
        resumed: false,
        reply_to: myself.clone(),
        cancelled,
    };
    let workers = state.workers.load();
    if let Err(e) = workers.environment.cast(WorkerMsg::Perform(job)) {
        tracing::error!("a worker actor is gone: {e}");
        state.background = None;
    }
}

async fn advance(
    myself: &ActorRef<DriverMsg>,
    state: &mut DriverState,
) -> Result<(), ActorProcessingErr> {
    advance_background(myself, state);
    if state.waiting.is_some() {
        return Ok(());
    }
    let effect = match next_step(&state.flow) {
        Step::Finished(_) => {
            let _ = state.supervisor.cast(SupervisorMsg::Ended(state.id));
            myself.stop(None);
            return Ok(());
        }
        Step::AwaitApproval => return Ok(()),
        Step::Do(effect) => effect,
    };
    // Announced before it happens; found announced and unanswered, it may
    // have happened before a crash, and the effect checks the world first.
    let announced = state.flow.started.as_deref() == Some(effect.name());
    let resumed = announced && state.announced.as_deref() != Some(effect.name());
    state.announced = None;
    if !announced {
        let started = Event::EffectStarted {
            effect: effect.name().to_string(),
        };
        append(state, vec![started]).await?;
    }
    state.tokens += 1;
    state.waiting = Some(state.tokens);
    let Some(context) = state.context.clone() else {
        let _ = myself.cast(DriverMsg::Results {
            token: state.tokens,
            inputs: vec![Input::EffectFailed {
                reason: "the deployment's logged config no longer parses".into(),
            }],
        });
        return Ok(());
    };
    let restore = state
        .flow
        .restore
        .as_ref()
        .and_then(|(release, _)| effects::context_of_release(&context, &state.flow, release))
        .map(Arc::new);
    let (cancel, cancelled) = tokio::sync::watch::channel(false);
    // Only effects that wait (on health, tests, reviewers) are dropped for
    // a command: a start, a fix or a stop runs to its end, so no instance
    // is left half-made and a failed agent's edits are put back.
    state.cancel = cancellable(&effect).then_some(cancel);
    let job = Job {
        effect,
        token: state.tokens,
        context,
        state: Arc::new(state.flow.clone()),
        restore,
        resumed,
        reply_to: myself.clone(),
        cancelled,
    };
    crate::crash_points::before_effect(job.effect.name());
    let workers = state.workers.load();
    let worker = match effects::worker_of(&job.effect) {
        WorkerKind::Driver => None,
        WorkerKind::Environment => Some(&workers.environment),
        WorkerKind::Trio => Some(&workers.trio),
        WorkerKind::Senior => Some(&workers.senior),
        WorkerKind::Junior => Some(&workers.junior),
    };
    match worker {
        Some(worker) => {
            if let Err(e) = worker.cast(WorkerMsg::Perform(job)) {
                tracing::error!("a worker actor is gone: {e}");
                let _ = myself.cast(DriverMsg::Results {
                    token: state.tokens,
                    inputs: vec![Input::EffectFailed {
                        reason: "the actor for this step is not running".into(),
                    }],
                });
            }
        }
        None => perform(WorkerKind::Driver, job),
    }
    Ok(())
}
