//! The messages between actors. Effects go out from a Driver to the actor
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

pub enum WorkerMsg {
    Perform(Job),
}

/// What the Supervisor hears from Drivers.
pub enum SupervisorEvent {
    Ended(StreamId),
}
