//! The control plane's actors (ractor): a Supervisor, a Driver per
//! deployment, and the workers that do the flow's effects (Environment,
//! Trio, Senior, Junior). See ARCHITECTURE.md for who sends what to whom.

mod completion;
pub mod context;
mod driver;
mod effects;
pub mod messages;
mod redact;
pub mod supervisor;
mod workers;

use ractor::{Actor, ActorRef};

pub use context::Services;
pub use messages::{DeployRequest, Refused, SupervisorMsg};
pub use supervisor::Supervisor;

/// Starts the actor system; in-flight deployments resume at once.
pub async fn start(
    services: Services,
) -> Result<(ActorRef<SupervisorMsg>, tokio::task::JoinHandle<()>), ractor::SpawnErr> {
    Actor::spawn(None, Supervisor, services).await
}
