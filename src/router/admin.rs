//! The admin API the control plane drives, on loopback only. JSON in and
//! out; a bad request gets 400 and a message, and changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::route::Route;
use super::state::{RouteError, RouterState};
use crate::net::hosts::AllowedHosts;

type Shared = State<Arc<RouterState>>;

pub fn api(state: Arc<RouterState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/routes", get(routes))
        .route(
            "/routes/{app}",
            put(set_route).get(route).delete(remove_route),
        )
        .route("/routes/{app}/pause", post(pause))
        .route("/routes/{app}/resume", post(resume))
        .route("/drain", post(drain))
        .route("/stats", get(stats))
        .route("/probe", post(probe))
        .layer(axum::middleware::from_fn(require_change_header))
        .layer(axum::middleware::from_fn_with_state(
            AllowedHosts::loopback(),
            crate::net::hosts::guard,
        ))
        .with_state(state)
}

/// The header every change must carry. A web page cannot add it to a
/// cross-site request without a CORS preflight, which this API never
/// approves; so a browser on this machine cannot pause or reroute an app.
pub const CHANGE_HEADER: &str = "x-deployflow-admin";

/// Changes without `CHANGE_HEADER` are refused; requests that name
/// another host (DNS rebinding) never get here (`net::hosts::guard`).
async fn require_change_header(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let changes = request.method() != axum::http::Method::GET;
    if changes && !request.headers().contains_key(CHANGE_HEADER) {
        return ApiError(
            StatusCode::FORBIDDEN,
            format!("a change needs the {CHANGE_HEADER} header"),
        )
        .into_response();
    }
    next.run(request).await
}

/// The longest a request may ask to be held, drained or probed for: a
/// number past them is refused, not added to a clock it would overflow.
const MAX_HOLD_MS: u64 = 3_600_000;
const MAX_DRAIN_MS: u64 = 86_400_000;
const MAX_PROBE_MS: u64 = 60_000;

fn millis(
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    name: &str,
) -> Result<Duration, ApiError> {
    if range.contains(&value) {
        Ok(Duration::from_millis(value))
    } else {
        Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "{name} must be from {} to {}, not {value}",
                range.start(),
                range.end()
            ),
        ))
    }
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        let status = match e {
            RouteError::Invalid(_) => StatusCode::BAD_REQUEST,
            RouteError::UnknownApp(_) => StatusCode::NOT_FOUND,
            RouteError::Listen { .. } => StatusCode::CONFLICT,
            RouteError::Persist(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError(StatusCode::BAD_REQUEST, e.body_text())
    }
}

async fn health(State(state): Shared) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "apps": state.routes().await.len() }))
}

async fn routes(State(state): Shared) -> Json<serde_json::Value> {
    Json(json!(state.routes().await))
}

async fn route(State(state): Shared, Path(app): Path<String>) -> Result<Response, ApiError> {
    let (route, paused) = state
        .route(&app)
        .await
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no app named {app}")))?;
    let mut body = json!(route);
    body["paused"] = json!(paused);
    Ok(Json(body).into_response())
}

async fn set_route(
    State(state): Shared,
    Path(app): Path<String>,
    body: Result<Json<Route>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(route) = body?;
    state.set_route(&app, route.clone()).await?;
    Ok(Json(route).into_response())
}

async fn remove_route(
    State(state): Shared,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.remove_route(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseRequest {
    /// How long a request may be held before it gets 503.
    #[serde(default = "default_max_hold_ms")]
    max_hold_ms: u64,
}

fn default_max_hold_ms() -> u64 {
    30_000
}

async fn pause(
    State(state): Shared,
    Path(app): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    // The body is optional; when there is one it must be a valid request.
    let max_hold = if body.iter().all(u8::is_ascii_whitespace) {
        default_max_hold_ms()
    } else {
        serde_json::from_slice::<PauseRequest>(&body)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("bad pause request: {e}")))?
            .max_hold_ms
    };
    state
        .pause(&app, millis(max_hold, 1..=MAX_HOLD_MS, "max_hold_ms")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resume(State(state): Shared, Path(app): Path<String>) -> Result<StatusCode, ApiError> {
    state.resume(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainRequest {
    upstream: SocketAddr,
    timeout_ms: u64,
}

async fn drain(
    State(state): Shared,
    body: Result<Json<DrainRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body?;
    let started = Instant::now();
    let timeout = millis(request.timeout_ms, 0..=MAX_DRAIN_MS, "timeout_ms")?;
    let stats = state.stats.get(request.upstream);
    let remaining = stats.drain(timeout).await;
    Ok(Json(json!({
        "upstream": request.upstream,
        "drained": remaining == 0,
        "in_flight": remaining,
        "waited_ms": started.elapsed().as_millis() as u64,
    })))
}

async fn stats(State(state): Shared) -> Json<serde_json::Value> {
    let snapshot: std::collections::BTreeMap<String, _> = state
        .stats
        .snapshot()
        .into_iter()
        .map(|(addr, stats)| (addr.to_string(), stats))
        .collect();
    Json(json!(snapshot))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeRequest {
    upstream: SocketAddr,
    #[serde(default = "default_probe_path")]
    path: String,
    #[serde(default = "default_probe_timeout_ms")]
    timeout_ms: u64,
}

fn default_probe_path() -> String {
    "/health".into()
}

fn default_probe_timeout_ms() -> u64 {
    2_000
}

/// Asks an upstream's health path directly: what the control plane uses to
/// see green answer before it switches.
async fn probe(
    body: Result<Json<ProbeRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body?;
    if !request.path.starts_with('/') {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "path must start with /".into(),
        ));
    }
    let started = Instant::now();
    let timeout = millis(request.timeout_ms, 1..=MAX_PROBE_MS, "timeout_ms")?;
    let outcome =
        tokio::time::timeout(timeout, super::probe::get(request.upstream, &request.path)).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Json(match outcome {
        Ok(Ok(status)) => {
            json!({ "healthy": (200..300).contains(&status), "status": status, "latency_ms": elapsed_ms })
        }
        Ok(Err(e)) => json!({ "healthy": false, "error": e, "latency_ms": elapsed_ms }),
        Err(_) => json!({ "healthy": false, "error": "timed out", "latency_ms": elapsed_ms }),
    }))
}
