//! The connection to the Docker engine: made on first use (a control plane
//! that deploys only processes never needs an engine), the API version
//! negotiated with the engine, and one clear error naming where it looked
//! when the engine is not there.

use std::time::Duration;

use bollard::Docker;
use tokio::sync::OnceCell;

use super::super::BackendError;

/// How long connecting and negotiating may take before the engine counts as
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Engine {
    docker: OnceCell<Docker>,
}

impl Engine {
    /// The connected client; a failed attempt is not kept, so an engine
    /// started later is found by the next call.
    pub async fn get(&self) -> Result<&Docker, BackendError> {
        self.docker.get_or_try_init(connect).await
    }
}

async fn connect() -> Result<Docker, BackendError> {
    let unreachable = |reason: String| BackendError::Engine {
        place: place(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    let negotiated = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok::<_, bollard::errors::Error>(docker)
    })
    .await;
    match negotiated {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(error_text(&e))),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Where the engine was looked for, in the words a user fixes it with.
fn place() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => format!("DOCKER_HOST={host}"),
        _ => "unix:///var/run/docker.sock (DOCKER_HOST is not set)".into(),
    }
}

/// A bollard error with its causes, which hold the useful part (the socket's
/// "No such file or directory", the refused connection).
pub fn error_text(error: &bollard::errors::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether the engine answered "no such thing" (404).
pub fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Whether the engine answered "that is in the way" (409).
pub fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}
