//! What the actors share (the log, the backend, the data dir) and what a
//! Driver knows about its deployment, rebuilt from its first event.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::adapters::backend::{Backend, Backends};
use crate::adapters::inputs::Paths;
use crate::adapters::router_client::RouterClient;
use crate::adapters::secrets::{Redactor, Secrets};
use crate::config::{Config, ConfigError};
use crate::events::{Event, EventStore, StreamId};

/// Shared by every actor; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: EventStore,
    /// The read model: app locks, live and retained releases, history.
    pub model: crate::projections::runner::ReadModel,
    pub data_dir: PathBuf,
    pub backends: Backends,
}

impl Services {
    pub fn new(
        store: EventStore,
        model: crate::projections::runner::ReadModel,
        data_dir: &Path,
    ) -> Self {
        Self {
            store,
            model,
            data_dir: data_dir.to_owned(),
            backends: Backends::new(data_dir),
        }
    }

    pub fn router(&self, config: &Config) -> RouterClient {
        RouterClient::new(config.router.admin.0, &self.data_dir.join("router"))
    }
}

/// One deployment's fixed facts: its id, config and where its files are.
#[derive(Clone)]
pub struct Context {
    pub id: StreamId,
    pub app: String,
    pub release: String,
    pub config: Config,
    pub base: PathBuf,
    pub paths: Paths,
    pub services: Services,
    /// The digest of the code this deployment's green ran, once known: what
    /// a rollback to its release starts again (its snapshot).
    pub digest: Option<String>,
}

impl Context {
    /// From the stream's `DeploymentRequested`.
    pub fn from_request(
        id: StreamId,
        request: &Event,
        services: &Services,
    ) -> Result<Context, ConfigError> {
        let Event::DeploymentRequested {
            app,
            release,
            config,
            base_dir,
            ..
        } = request
        else {
            return Err(ConfigError::Invalid {
                path: PathBuf::from("(log)"),
                key: "(document)".into(),
                line: 1,
                column: 1,
                message: format!("stream {id} does not start with a deployment request"),
            });
        };
        let base = PathBuf::from(base_dir.as_deref().unwrap_or("."));
        let config = Config::parse(config, &base.join("deployflow.toml"))?;
        // Before anything of this deployment's starts a process.
        if let Some(forge) = &config.forge {
            crate::adapters::child::withhold(forge.token_env.as_str());
        }
        Ok(Context {
            id,
            app: app.clone(),
            release: release.clone(),
            paths: Paths::of(&config, &base),
            config,
            base,
            services: services.clone(),
            digest: None,
        })
    }

    /// Resolves the secrets now (they may have changed since the request).
    pub fn secrets(&self) -> Result<Secrets, String> {
        Secrets::resolve(
            &crate::adapters::inputs::names(&self.config),
            &self.paths.secrets_file,
        )
        .map_err(|e| e.to_string())
    }

    /// A redactor for every secret that resolves now (one gone missing
    /// must not stop the others from being scrubbed).
    pub fn redactor(&self) -> Redactor {
        Secrets::available(
            &crate::adapters::inputs::redacted_names(&self.config),
            &self.paths.secrets_file,
        )
        .redactor()
    }

    pub fn router(&self) -> RouterClient {
        self.services.router(&self.config)
    }

    /// The backend this deployment's config names.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.services
            .backends
            .of(self.config.runtime.get_ref().backend)
    }

    /// Where this deployment keeps its logs (test output and the like).
    pub fn log_dir(&self) -> PathBuf {
        self.services
            .data_dir
            .join("deployments")
            .join(self.id.to_string())
    }
}
