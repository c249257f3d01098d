//! The actors that do the flow's work: Environment (instances, health,
//! traffic, the Driver tier's remedies), Trio (parallel reviews, Trio-tier
//! fixes), Senior (synthesis, Senior-tier fixes) and Junior (reviews of the
//! synthesis). Each job runs in a task of its own: the mailbox takes the
//! next job at once, and a job that panics answers its Driver with a
//! failure instead of leaving it waiting.

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::effects;
use super::messages::{DriverMsg, WorkerKind, WorkerMsg};
use crate::flow::Input;

pub struct Worker;

#[ractor::async_trait]
impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = WorkerKind;
    type Arguments = WorkerKind;

    async fn pre_start(
        &self,
        _myself: ActorRef<WorkerMsg>,
        kind: WorkerKind,
    ) -> Result<WorkerKind, ActorProcessingErr> {
        Ok(kind)
    }

    async fn handle(
        &self,
        _myself: ActorRef<WorkerMsg>,
        message: WorkerMsg,
        kind: &mut WorkerKind,
    ) -> Result<(), ActorProcessingErr> {
        let WorkerMsg::Perform(job) = message;
        perform(*kind, job);
        Ok(())
    }
}

/// Runs `job` in a task; if it panics, its Driver hears a failure.
pub fn perform(kind: WorkerKind, job: crate::actors::messages::Job) {
    let (reply_to, token) = (job.reply_to.clone(), job.token);
    let mut cancelled = job.cancelled.clone();
    // Resolves when the Driver cancels; never once it has let go of the
    // job (its answer came, or another job replaced it).
    let cancel = async move {
        if cancelled.wait_for(|cancelled| *cancelled).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let work = tokio::spawn(effects::perform(job));
    tokio::spawn(async move {
        let mut work = work;
        tokio::select! {
            done = &mut work => {
                if let Err(e) = done
                    && !e.is_cancelled()
                {
                    tracing::error!("a {kind:?} job crashed: {e}");
                    let _ = reply_to.cast(DriverMsg::Results {
                        token,
                        inputs: vec![Input::EffectFailed {
                            reason: format!("the {} job crashed", format!("{kind:?}").to_lowercase()),
                        }],
                    });
                }
            }
            // A command left the step: the work is dropped where it is (its
            // processes killed with it) and the Driver, which drops any
            // answer now, moves on.
            () = cancel => {
                work.abort();
                // Gone for good before the Driver acts on the abort: a poll
                // under way on another thread finishes first.
                let _ = (&mut work).await;
                let _ = reply_to.cast(DriverMsg::Results { token, inputs: Vec::new() });
            }
        }
    });
}
