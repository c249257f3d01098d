//! `deployflow serve`: the control plane. It opens the event log, starts
//! the actor system (which resumes every deployment in flight) and serves
//! the JSON API the command line uses: on loopback, or beyond it with a
//! token (`auth.rs`).

mod api;
pub mod auth;
mod dashboard;
mod exposition;
mod queries;
mod stream;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

use crate::actors::{self, Services};
use crate::events::EventStore;
use crate::net::hosts::AllowedHosts;
use crate::projections::runner::ReadModel;

/// Names the running control plane (in the data dir), for scripts that stop it.
pub const PID_FILE: &str = "serve.pid";

/// The API's default address (DESIGN.md).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// Runs the control plane until `shutdown` resolves (or forever).
pub async fn serve(
    data_dir: &Path,
    listen: SocketAddr,
    auth: auth::Auth,
    hosts: AllowedHosts,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = EventStore::open(data_dir)
        .with_context(|| format!("opening the event log in {}", data_dir.display()))?;
    if let Some(recovery) = store.recovered() {
        // Never silent: on the terminal as well as in the log.
        eprintln!("deployflow serve: {recovery}");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    // Written once the log and the address are ours: it names this process.
    let pid_file = data_dir.join(PID_FILE);
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pid_file.display()))?;
    let model = ReadModel::open(&store, data_dir).context("loading the read model")?;
    let follower = tokio::spawn(follow(store.clone(), model.clone()));
    let services = Services::new(store.clone(), model.clone(), data_dir);
    let (supervisor, handle) = actors::start(services)
        .await
        .context("starting the actor system")?;
    let app = api::router(api::Shared {
        supervisor: supervisor.clone(),
        store,
        model: model.clone(),
        data_dir: data_dir.to_owned(),
        auth: auth.clone(),
    })
    .layer(axum::middleware::from_fn_with_state(auth, auth::check))
    // Outermost: a request naming another host (DNS rebinding) reaches
    // neither a handler nor the token check.
    .layer(axum::middleware::from_fn_with_state(
        hosts,
        crate::net::hosts::guard,
    ));
    tracing::info!("control plane on {listen}, data in {}", data_dir.display());
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    supervisor.stop(None);
    let _ = handle.await;
    follower.abort();
    // The checkpoint, so the next start folds only what comes after.
    if let Err(e) = model.catch_up().and_then(|()| model.save()) {
        tracing::warn!("the read model's checkpoint: {e}");
    }
    let _ = std::fs::remove_file(&pid_file);
    served.context("serving the API")
}

/// Keeps the read model current: woken by each commit, folds what is new.
async fn follow(store: EventStore, model: ReadModel) {
    let mut head = store.subscribe();
    while head.changed().await.is_ok() {
        let model = model.clone();
        // Reading the log is blocking IO: off the runtime's threads.
        let caught = tokio::task::spawn_blocking(move || model.catch_up()).await;
        if let Ok(Err(e)) = caught {
            tracing::error!("the read model could not follow the log: {e}");
        }
    }
}
