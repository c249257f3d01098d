//! What every handler shares: the Supervisor, the log, the read model.

use std::path::PathBuf;

use ractor::ActorRef;

use super::error::ApiError;
use crate::actors::SupervisorMsg;
use crate::events::EventStore;

#[derive(Clone)]
pub struct Shared {
    pub supervisor: ActorRef<SupervisorMsg>,
    pub store: EventStore,
    pub model: crate::projections::runner::ReadModel,
    pub data_dir: PathBuf,
    pub auth: super::auth::Auth,
    /// Told when `POST /api/stop` asks the control plane to stop.
    pub stop: std::sync::Arc<tokio::sync::Notify>,
}

impl Shared {
    /// Folds what the log gained into the read model.
    pub async fn caught_up(&self) -> Result<(), ApiError> {
        let model = self.model.clone();
        self.blocking(move || model.catch_up().map_err(ApiError::from))
            .await
    }

    /// The deployment a typed id names: the whole id, a unique prefix of
    /// at least four characters, or `latest` (`projections::ids`). Every
    /// route that takes an id goes through here.
    pub async fn resolve(&self, typed: &str) -> Result<crate::events::StreamId, ApiError> {
        if let Ok(id) = typed.trim().parse() {
            return Ok(crate::events::StreamId(id));
        }
        self.caught_up().await?;
        let model = self.model.read();
        crate::projections::ids::resolve(model.records().iter().map(|r| &r.id), typed)
            .map_err(ApiError::from)
    }

    /// Runs a read of the log off the runtime's threads: reading sled is
    /// blocking IO, which would stall every connection on that thread.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&EventStore) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        self.blocking(move || read(&store)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal(format!("reading the event log panicked: {e}")))?
    }
}
