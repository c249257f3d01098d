//! Where releases run. The flow asks for an instance of a release in a
//! slot; a `Backend` starts, finds and stops it. Both calls are idempotent:
//! a restarted control plane repeats the step it was on and must find what
//! the first try did, not start a second copy.

mod process;

use std::path::PathBuf;

use async_trait::async_trait;

pub use process::ProcessBackend;

use crate::events::Slot;

/// One instance to start.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub app: String,
    /// The deployment starting it, and which of its deploy attempts.
    pub deployment: String,
    pub attempt: u32,
    pub slot: Slot,
    pub release: String,
    /// The command (process backend), run through `sh -c` in `dir`.
    pub command: String,
    pub dir: PathBuf,
    /// The config's env and the secrets' values. Never logged.
    pub env: Vec<(String, String)>,
    /// Take another port than the slot used before.
    pub fresh_port: bool,
}

/// A running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// What the backend calls it (`pid:1234`, a container id).
    pub id: String,
    /// host:port the app listens on, for health checks and the router.
    pub endpoint: String,
    pub deployment: String,
    pub attempt: u32,
    pub release: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start {release} in the {slot} slot: {reason}")]
    Start {
        release: String,
        slot: &'static str,
        reason: String,
    },
    #[error("cannot stop the {slot} slot's instance: {reason}")]
    Stop { slot: &'static str, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// Starts `spec` unless that very instance (same deployment and attempt)
    /// already runs; an instance of another attempt in the slot is stopped
    /// first.
    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, BackendError>;
    /// The instance running in `slot`, if any.
    async fn running(&self, app: &str, slot: Slot) -> Option<Instance>;
    /// Stops the slot's instance (if any), gracefully then by force.
    async fn stop(&self, app: &str, slot: Slot) -> Result<(), BackendError>;
    /// What went wrong with the slot's instance: exit status and log tail.
    async fn diagnose(&self, app: &str, slot: Slot) -> String;
}
