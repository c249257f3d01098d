//! `deployflow serve`: the control plane. It opens the event log, starts
//! the actor system (which resumes every deployment in flight) and serves
//! the JSON API the command line uses: on loopback, or beyond it with a
//! token (`auth.rs`).

mod alerts;
mod api;
pub mod auth;
mod dashboard;
mod error;
mod exposition;
mod notify;
mod queries;
mod state;
mod stream;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actors::{self, Services};
use crate::events::EventStore;
use crate::net::connections::Limits;
use crate::net::hosts::AllowedHosts;
use crate::projections::runner::ReadModel;

/// Names the running control plane (in the data dir), for scripts that stop it.
pub const PID_FILE: &str = "serve.pid";

/// Where the data dir's control plane answers (`http://ADDR`), so commands
/// run against this data dir find it when it is not at the default address.
pub const ADDR_FILE: &str = "serve.addr";

/// The API's default address (DESIGN.md).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The connections the API holds open and how long an idle one may take
/// to send a request's head, unless `serve` is told otherwise.
pub const DEFAULT_LIMITS: Limits = Limits {
    header_timeout: std::time::Duration::from_secs(30),
    max_connections: 512,
};

/// Where and for whom the control plane serves.
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub auth: auth::Auth,
    pub hosts: AllowedHosts,
    pub limits: Limits,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "deployflow control plane",
        description = "Blue/Green deployments as an event-sourced actor system. Errors are `{error, code}`, `code` being the exit code the command line gives."
    ),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// Every route, each documented where it is declared: the OpenAPI
/// document (`GET /api/openapi.json`) is built from the same list as the
/// router, so the two cannot disagree.
fn router(shared: state::Shared) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(stream::events))
        .routes(routes!(exposition::metrics))
        .merge(api::routes())
        .merge(alerts::routes())
        .split_for_parts();
    let doc = std::sync::Arc::new(doc);
    router
        .merge(dashboard::routes())
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .with_state(shared)
}

/// Runs the control plane until `shutdown` resolves (or forever).
pub async fn serve(
    data_dir: &Path,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ServeOptions {
        listen,
        auth,
        hosts,
        limits,
    } = options;
    // Files an older version made readable by others are mended first.
    for problem in crate::adapters::owner_only::tighten(data_dir) {
        tracing::warn!("cannot make it owner-only: {problem}");
    }
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
    let addr_file = data_dir.join(ADDR_FILE);
    std::fs::write(&addr_file, format!("http://{listen}\n"))
        .with_context(|| format!("writing {}", addr_file.display()))?;
    let model = ReadModel::open(&store, data_dir).context("loading the read model")?;
    let follower = tokio::spawn(follow(store.clone(), model.clone()));
    let notifier = tokio::spawn(notify::follow(store.clone(), data_dir.to_owned()));
    let services = Services::new(store.clone(), model.clone(), data_dir);
    let (supervisor, handle) = actors::start(services)
        .await
        .context("starting the actor system")?;
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let app = router(state::Shared {
        supervisor: supervisor.clone(),
        store,
        model: model.clone(),
        data_dir: data_dir.to_owned(),
        auth: auth.clone(),
        stop: stop.clone(),
    })
    .layer(axum::middleware::from_fn_with_state(auth, auth::check))
    // Outermost: a request naming another host (DNS rebinding) reaches
    // neither a handler nor the token check.
    .layer(axum::middleware::from_fn_with_state(
        hosts,
        crate::net::hosts::guard,
    ));
    tracing::info!("control plane on {listen}, data in {}", data_dir.display());
    let stopping = async move {
        tokio::select! {
            () = shutdown => {}
            () = stop.notified() => {}
        }
    };
    crate::net::connections::serve_app(listener, app, limits, stopping).await;
    supervisor.stop(None);
    let _ = handle.await;
    follower.abort();
    notifier.abort();
    // The checkpoint, so the next start folds only what comes after.
    if let Err(e) = model.catch_up().and_then(|()| model.save()) {
        tracing::warn!("the read model's checkpoint: {e}");
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
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
