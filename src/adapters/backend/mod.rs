//! Where releases run. The flow asks for an instance of a release in a
//! slot; a `Backend` starts, finds and stops it. Both calls are idempotent:
//! a restarted control plane repeats the step it was on and must find what
//! the first try did, not start a second copy.

mod docker;
mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use docker::DockerBackend;
pub use process::ProcessBackend;

use crate::config::BackendKind;
use crate::events::Slot;

/// Both backends, made once per control plane; a deployment uses the one
/// its config names. Docker's engine is reached only when first needed.
#[derive(Clone)]
pub struct Backends {
    process: Arc<ProcessBackend>,
    docker: Arc<DockerBackend>,
}

impl Backends {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            process: Arc::new(ProcessBackend::new(data_dir)),
            docker: Arc::new(DockerBackend::new()),
        }
    }

    pub fn of(&self, kind: BackendKind) -> Arc<dyn Backend> {
        match kind {
            BackendKind::Process => self.process.clone(),
            BackendKind::Docker => self.docker.clone(),
        }
    }
}

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
    /// Process backend: run in `dir` before the command, unless restoring.
    pub build_command: Option<String>,
    pub build_timeout: Duration,
    pub dir: PathBuf,
    /// The config's env and the secrets' values. Never logged.
    pub env: Vec<(String, String)>,
    /// Take another port than the slot used before.
    pub fresh_port: bool,
    /// Docker: the image to run, or the context to build one from.
    pub image: Option<String>,
    pub build: Option<BuildSpec>,
    /// Docker: the port the app listens on inside its container.
    pub container_port: u16,
    /// How long a stop waits for the app to finish before killing it.
    pub stop_timeout: Duration,
    /// Stopped releases of the app kept for rollback.
    pub retain: u32,
    /// Docker: `host:container[:mode]` bind mounts, host paths absolute.
    pub volumes: Vec<String>,
    /// A release coming back in a rollback: it runs what it ran before
    /// (its image), not a fresh build.
    pub restoring: bool,
}

#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub context: PathBuf,
    pub dockerfile: Option<String>,
}

/// What an instance's own health check says, where it has one (a Docker
/// HEALTHCHECK); without one, the HTTP health path decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeHealth {
    None,
    Starting,
    Healthy,
    Unhealthy(String),
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
    #[error("cannot reach the Docker engine at {place}: {reason}")]
    Engine { place: String, reason: String },
    #[error("the Docker engine failed {what}: {reason}")]
    EngineCall { what: String, reason: String },
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
    /// Stops the slot's instance (if any), gracefully then by force; keeps
    /// it for rollback when `retain`.
    async fn stop(&self, app: &str, slot: Slot, retain: bool) -> Result<(), BackendError>;
    /// What went wrong with the slot's instance: exit status and log tail.
    async fn diagnose(&self, app: &str, slot: Slot) -> String;
    /// The last `tail` lines `release`'s instance in `slot` wrote, running
    /// or stopped and kept (`deployflow logs`).
    async fn output(
        &self,
        app: &str,
        slot: Slot,
        release: &str,
        tail: usize,
    ) -> Result<String, BackendError>;
    /// The slot's instance now serves the app's traffic: the backend may
    /// rename things so operators see which one is live.
    async fn promote(&self, _app: &str, _slot: Slot) -> Result<(), BackendError> {
        Ok(())
    }
    /// The instance's own health check, where it has one.
    async fn native_health(&self, _app: &str, _slot: Slot) -> NativeHealth {
        NativeHealth::None
    }
    /// Whether the backend can start anything at all (an engine to reach);
    /// says what it found.
    async fn check_ready(&self) -> Result<String, BackendError> {
        Ok(String::new())
    }
    /// Whether `image` is there to run (a backend without images has
    /// nothing to check); says what it found.
    async fn check_image(&self, image: &str) -> Result<String, BackendError> {
        Ok(image.to_string())
    }
}
