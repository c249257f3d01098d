//! The messages between actors, in a leaf file so the actors that send
//! them do not import each other. Effects go out from a Driver to the actor
//! that does them; results come back as `DriverMsg::Results` carrying the
//! token of the effect they answer, so a late answer to an effect the
//! Driver no longer waits for is recognised and dropped.

use std::sync::Arc;

use ractor::{ActorRef, RpcReplyPort};

use super::context::Context;
use crate::events::StreamId;
use crate::flow::{Deployment, Effect, Input};

pub enum DriverMsg {
    /// Look at the next step and start it.
    Advance,
    /// What an effect gave.
    Results { token: u64, inputs: Vec<Input> },
    /// A person's command (approve, reject, abort, rollback); the answer is
    /// the stream's version before the command's events.
    Command {
        input: Input,
        reply: RpcReplyPort<Result<u64, crate::flow::Refusal>>,
    },
}

/// An effect for a worker actor, and where to send its result.
pub struct Job {
    pub effect: Effect,
    pub token: u64,
    pub context: Arc<Context>,
    /// The deployment's state when the effect was decided.
    pub state: Arc<Deployment>,
    /// For a rollback after promotion: the context of the deployment that
    /// brought the release being restored.
    pub restore: Option<Arc<Context>>,
    /// It was announced before a crash and not answered: it may have
    /// happened already, so the world is checked before acting.
    pub resumed: bool,
    pub reply_to: ActorRef<DriverMsg>,
    /// Turns true when a person's command (an abort, a rollback) leaves the
    /// step this effect is for: the effect is dropped at once.
    pub cancelled: tokio::sync::watch::Receiver<bool>,
}

impl Job {
    /// Sends the result back; a Driver that is gone no longer needs it.
    pub fn answer(&self, inputs: Vec<Input>) {
        let _ = self.reply_to.cast(DriverMsg::Results {
            token: self.token,
            inputs,
        });
    }
}

/// Who does an effect (`effects::worker_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    /// Not an actor: the Driver's own effects, run in a task it spawns.
    Driver,
    Environment,
    Trio,
    Senior,
    Junior,
}

pub enum WorkerMsg {
    Perform(Job),
}

/// A request to deploy, as the API receives it.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub config_text: String,
    /// The config file's directory, which its paths are relative to.
    pub base_dir: String,
    pub release: String,
    pub requested_by: String,
    pub commit: Option<String>,
    pub committed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Invalid(String),
    #[error("{app} is being deployed by {holder}")]
    Locked { app: String, holder: StreamId },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
    /// The deployment's state does not allow it (the flow's own refusal).
    #[error(transparent)]
    Flow(#[from] crate::flow::Refusal),
}

pub enum SupervisorMsg {
    Deploy(DeployRequest, RpcReplyPort<Result<StreamId, Refused>>),
    /// Approve, reject or abort a deployment.
    Command {
        id: StreamId,
        input: Input,
        reply: RpcReplyPort<Result<u64, Refused>>,
    },
    /// A command for an app's current deployment: the one in flight, else
    /// the one that made its live release live (a rollback, an alert). The
    /// answer is the deployment and the version its events start at.
    ForApp {
        app: String,
        input: Input,
        to: Option<String>,
        reply: RpcReplyPort<Result<(StreamId, u64), Refused>>,
    },
    /// Start a Driver for every deployment in flight that has none.
    Resume(RpcReplyPort<Vec<Resumed>>),
    /// A Driver's deployment reached its end.
    Ended(StreamId),
    /// From `keep_log_writable`, every second: once the log can be
    /// written, the deployments parked for it resume.
    CheckLog,
}

/// A deployment a Driver was started for, and where it stood.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resumed {
    pub id: StreamId,
    pub app: String,
    pub release: String,
    pub phase: String,
}
