//! The control plane's JSON API. Writes go to the Supervisor actor; reads
//! fold the log. Errors carry `error` and the exit `code` the CLI uses.

use crate::events::payloads::Intervention;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ractor::rpc::CallResult;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiQuery, ErrorBody, not_found};
use super::queries;
use super::state::Shared;
use crate::actors::{DeployRequest, SupervisorMsg};
use crate::exit::Exit;
use crate::flow::Input;

type S = State<Shared>;

/// This file's routes, each documented where it is declared; `server::router`
/// merges them with the others into one router and one OpenAPI document.
pub fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(health_root))
        .routes(routes!(deploy, history))
        .routes(routes!(show))
        .routes(routes!(audit))
        .routes(routes!(analysis))
        .routes(routes!(report))
        .routes(routes!(replay))
        .routes(routes!(command))
        .routes(routes!(rollback))
        .routes(routes!(status))
        .routes(routes!(metrics))
        .routes(routes!(resume))
        .routes(routes!(rebuild))
        .routes(routes!(verify))
        .routes(routes!(stop))
        .routes(routes!(control_plane))
}

/// Asks the Supervisor and waits for its answer.
pub(super) async fn ask<T: Send + 'static>(
    shared: &Shared,
    message: impl FnOnce(ractor::RpcReplyPort<T>) -> SupervisorMsg,
) -> Result<T, ApiError> {
    match shared
        .supervisor
        .call(message, Some(Duration::from_secs(60)))
        .await
    {
        Ok(CallResult::Success(answer)) => Ok(answer),
        Ok(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Exit::Error,
            "the control plane did not answer in time",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Exit::Error,
            format!("the control plane is not running: {e}"),
        )),
    }
}

/// Whether the control plane runs (answered without a token).
#[utoipa::path(get, path = "/api/health", tag = "control plane",
    responses((status = 200, description = "running", body = Object), (status = 503, description = "its actors stopped", body = Object)))]
async fn health(State(shared): S) -> (StatusCode, Json<Value>) {
    // The API outliving its actors, or a log that takes no more events,
    // would accept nothing: say so.
    // The log's reason first: when it stops, the actors stop after it.
    let problem = match (shared.store.writer_stopped(), shared.model.trouble()) {
        (Some(reason), _) => Some(format!("the event log takes no more events: {reason}")),
        (None, Some(reason)) => Some(format!("the read model cannot follow the log: {reason}")),
        (None, None) => (shared.supervisor.get_status() != ractor::ActorStatus::Running)
            .then(|| "actors stopped".to_string()),
    };
    let status = if problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        // Open to anyone: it says nothing of where the data is.
        Json(json!({
            "status": problem.as_deref().unwrap_or("ok"),
            "version": env!("CARGO_PKG_VERSION"),
        })),
    )
}

/// `/api/health` at the root, for load balancers' probes.
#[utoipa::path(get, path = "/health", tag = "control plane",
    responses((status = 200, description = "running", body = Object), (status = 503, description = "its actors stopped", body = Object)))]
async fn health_root(state: S) -> (StatusCode, Json<Value>) {
    health(state).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    config: String,
    base_dir: String,
    release: String,
    #[serde(default)]
    requested_by: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    committed_at: Option<DateTime<Utc>>,
}

/// Starts a deployment of the config's app.
#[utoipa::path(post, path = "/api/deployments", tag = "deployments", request_body = DeployBody,
    responses((status = 201, description = "`{id}` of the new deployment", body = Object),
        (status = 400, description = "bad config or request", body = ErrorBody),
        (status = 409, description = "another deployment holds the app's lock (`holder`)", body = ErrorBody)))]
async fn deploy(
    State(shared): S,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let request = DeployRequest {
        config_text: body.config,
        base_dir: body.base_dir,
        release: body.release,
        requested_by: body.requested_by.unwrap_or_else(|| "unknown".into()),
        commit: body.commit,
        committed_at: body.committed_at,
    };
    let id = ask(&shared, |reply| SupervisorMsg::Deploy(request, reply)).await??;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    app: Option<String>,
    limit: Option<usize>,
}

/// Deployments, newest first.
#[utoipa::path(get, path = "/api/deployments", tag = "deployments", params(HistoryQuery),
    responses((status = 200, description = "history rows", body = Vec<Object>)))]
async fn history(
    State(shared): S,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    shared.caught_up().await?;
    let rows = queries::history(&shared.model, q.app.as_deref(), q.limit.unwrap_or(20));
    Ok(Json(json!(rows)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShowQuery {
    /// Only the events from this stream version on.
    after: Option<u64>,
}

/// One deployment: its row, state, timing and events.
#[utoipa::path(get, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = String, Path, description = "deployment id"), ShowQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show(
    State(shared): S,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = shared.resolve(&id).await?;
    let after = q.after.unwrap_or(0);
    shared
        .read(move |store| Ok(queries::show(store, id, after)?))
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

/// Every analysis run of a deployment, its measurements and how it ended.
#[utoipa::path(get, path = "/api/deployments/{id}/analysis", tag = "deployments",
    params(("id" = String, Path, description = "deployment id")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
async fn analysis(State(shared): S, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = shared.resolve(&id).await?;
    let runs = shared
        .read(move |store| Ok(queries::analyses(store, id)?))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(json!(runs)))
}

/// Every verdict and decision of a deployment's review.
#[utoipa::path(get, path = "/api/deployments/{id}/audit", tag = "deployments",
    params(("id" = String, Path, description = "deployment id")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
async fn audit(State(shared): S, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = shared.resolve(&id).await?;
    let entries = shared
        .read(move |store| Ok(queries::audit(store, id)?))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(json!(entries)))
}

/// The deployment report (Markdown), rendered from the log.
#[utoipa::path(get, path = "/api/deployments/{id}/report", tag = "deployments",
    params(("id" = String, Path, description = "deployment id")),
    responses((status = 200, description = "`{id, report}`", body = Object), (status = 404, body = ErrorBody)))]
async fn report(State(shared): S, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = shared.resolve(&id).await?;
    let events = shared
        .read(move |store| Ok(store.read_stream(id, 0)?))
        .await?;
    if events.is_empty() {
        return Err(not_found(id));
    }
    let text = crate::projections::report::render(&id.to_string(), &events);
    Ok(Json(json!({ "id": id, "report": text })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReplayQuery {
    /// The global sequence to replay up to.
    at: Option<u64>,
}

/// A deployment's state, next step and timeline as of a global sequence.
#[utoipa::path(get, path = "/api/deployments/{id}/replay", tag = "deployments",
    params(("id" = String, Path, description = "deployment id"), ReplayQuery),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn replay(
    State(shared): S,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReplayQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = shared.resolve(&id).await?;
    let at = q.at;
    match shared
        .read(move |store| Ok(queries::replay(store, id, at)?))
        .await?
    {
        queries::Replayed::State(state) => Ok(Json(state)),
        queries::Replayed::NoDeployment => Err(not_found(id)),
        queries::Replayed::NotStartedYet { first_seq } => Err(ApiError::not_found(format!(
            "deployment {id} had not started yet at sequence {}: its first event is {first_seq}",
            q.at.unwrap_or_default()
        ))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    by: Option<String>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    to: Option<String>,
    /// `approve --full`: a canary's remaining steps are skipped.
    #[serde(default)]
    full: bool,
}

fn by(body: &CommandBody) -> String {
    body.by.clone().unwrap_or_else(|| "unknown".into())
}

/// `approve`, `reject` or `abort` for one deployment.
#[utoipa::path(post, path = "/api/deployments/{id}/{action}", tag = "deployments",
    params(("id" = String, Path, description = "deployment id"),
        ("action" = String, Path, description = "approve, reject or abort")),
    request_body = CommandBody,
    responses((status = 200, description = "`{id}`", body = Object), (status = 404, body = ErrorBody), (status = 409, description = "refused in the deployment's state", body = ErrorBody)))]
async fn command(
    State(shared): S,
    Path((id, action)): Path<(String, String)>,
    body: Result<Json<CommandBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let (by, reason) = (by(&body), body.reason);
    let input = match action.as_str() {
        "approve" => Input::Approve(Intervention {
            full: body.full,
            ..Intervention::by(by, reason)
        }),
        "reject" => Input::Reject(Intervention::by(by, reason)),
        "abort" => Input::Abort(Intervention::by(by, reason)),
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Exit::BadInput,
                format!("no command `{other}`: approve, reject or abort"),
            ));
        }
    };
    let id = shared.resolve(&id).await?;
    ask(&shared, |reply| SupervisorMsg::Command { id, input, reply }).await??;
    Ok(Json(json!({ "id": id })))
}

/// Rolls the app back: after promotion to its retained release (or `to`),
/// during a deployment its rollback.
#[utoipa::path(post, path = "/api/apps/{app}/rollback", tag = "apps",
    params(("app" = String, Path, description = "app name")), request_body = CommandBody,
    responses((status = 200, description = "`{id, from_version}`", body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "refused in the deployment's state (nothing to roll back to, already switching)", body = ErrorBody)))]
async fn rollback(
    State(shared): S,
    Path(app): Path<String>,
    body: Result<Json<CommandBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let input = Input::Rollback {
        by: by(&body),
        reason: body.reason.clone(),
        to_release: body.to.clone(),
    };
    let to = body.to;
    let (id, from_version) = ask(&shared, |reply| SupervisorMsg::ForApp {
        app,
        input,
        to,
        reply,
    })
    .await??;
    Ok(Json(json!({ "id": id, "from_version": from_version })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AppQuery {
    app: Option<String>,
    since: Option<DateTime<Utc>>,
}

/// Per app: what is live, the candidate, the retained releases.
#[utoipa::path(get, path = "/api/status", tag = "apps", params(AppQuery),
    responses((status = 200, body = Vec<Object>)))]
async fn status(
    State(shared): S,
    ApiQuery(q): ApiQuery<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    shared.caught_up().await?;
    Ok(Json(json!(queries::status(
        &shared.model,
        q.app.as_deref()
    ))))
}

/// Success, efficiency and DORA metrics over the history.
#[utoipa::path(get, path = "/api/metrics", tag = "apps", params(AppQuery),
    responses((status = 200, body = Object)))]
async fn metrics(
    State(shared): S,
    ApiQuery(q): ApiQuery<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    shared.caught_up().await?;
    Ok(Json(json!(queries::metrics(
        &shared.model,
        q.app.as_deref(),
        q.since
    ))))
}

/// Starts a Driver for every in-flight deployment without one.
#[utoipa::path(post, path = "/api/resume", tag = "control plane",
    responses((status = 200, description = "`{resumed}`", body = Object)))]
async fn resume(State(shared): S) -> Result<Json<Value>, ApiError> {
    let resumed = ask(&shared, SupervisorMsg::Resume).await?;
    Ok(Json(json!({ "resumed": resumed })))
}

/// Walks every record's CRC and the hash chain here, in the control plane
/// that holds the log: what `deployflow verify` reports while it runs.
#[utoipa::path(get, path = "/api/verify", tag = "control plane",
    responses((status = 200, description = "`{checked, acknowledged, first_bad}`", body = Object)))]
async fn verify(State(shared): S) -> Result<Json<Value>, ApiError> {
    let report = shared
        .read(|store| {
            let log = store.raw()?;
            Ok(crate::events::verify(&log))
        })
        .await?;
    Ok(Json(json!(report)))
}

/// Which control plane this is: where it keeps its log and its process.
/// A client checks it before it writes, so a deploy from another app's
/// directory never lands in this one's log.
#[utoipa::path(get, path = "/api/control-plane", tag = "control plane",
    responses((status = 200, description = "`{data_dir, pid, version}`", body = Object)))]
async fn control_plane(State(shared): S) -> Json<Value> {
    let data_dir = std::fs::canonicalize(&shared.data_dir).unwrap_or(shared.data_dir.clone());
    Json(json!({
        "data_dir": data_dir,
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// Stops the control plane cleanly; routers and instances keep running.
#[utoipa::path(post, path = "/api/stop", tag = "control plane",
    responses((status = 200, description = "`{stopping: true}`", body = Object)))]
async fn stop(State(shared): S) -> Json<Value> {
    shared.stop.notify_one();
    Json(json!({ "stopping": true }))
}

/// Folds the read model again from sequence 0 and compares it.
#[utoipa::path(post, path = "/api/rebuild", tag = "control plane",
    responses((status = 200, body = Object)))]
async fn rebuild(State(shared): S) -> Result<Json<Value>, ApiError> {
    let model = shared.model.clone();
    let rebuilt = tokio::task::spawn_blocking(move || model.rebuild())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Exit::Error,
                e.to_string(),
            )
        })??;
    Ok(Json(json!(rebuilt)))
}
