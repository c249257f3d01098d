//! The HTTP side: four endpoints, each with the knob that can break it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use super::Fatal;
use super::settings::{Health, Settings};
use super::smoke::Test;

/// `/slow` never sleeps longer than this, so a drain test stays bounded.
const SLOW_MAX_MS: u64 = 10_000;

struct App {
    settings: Settings,
    /// Proxied requests to `/` so far, for `HELLO_FAIL_PROXIED`.
    proxied: AtomicU64,
    /// Requests to `/greet` so far, for `HELLO_FLAKY_GREET`.
    greeted: AtomicU64,
}

impl std::ops::Deref for App {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

type Shared = Arc<App>;

pub async fn run(settings: Settings) -> Result<(), Fatal> {
    // Signal handlers go in before anything else: a SIGTERM that arrives
    // right after the start line must still mean a clean exit 0.
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Fatal::failure(format!("cannot watch SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Fatal::failure(format!("cannot watch SIGINT: {e}")))?;

    let addr = SocketAddr::from((settings.host, settings.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Fatal::failure(format!("cannot listen on {addr}: {e}")))?;
    println!(
        "hello {} listening on {addr}, slot {}",
        settings.release, settings.slot
    );

    let app = Router::new()
        .route("/health", get(health))
        .route("/", get(root))
        .route("/greet", get(greet))
        .route("/slow", get(slow))
        .fallback(not_found)
        .with_state(Arc::new(App {
            settings,
            proxied: AtomicU64::new(0),
            greeted: AtomicU64::new(0),
        }));

    // axum stops accepting on the signal, then waits for in-flight requests
    // (a /slow one included) before `serve` returns: the drain deployflow
    // relies on when it stops blue.
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            eprintln!("hello: {name} received, finishing in-flight requests");
        })
        .await
        .map_err(|e| Fatal::failure(format!("server error: {e}")))
}

fn breaks(settings: &Settings, test: Test) -> bool {
    settings.fail_test == Some(test)
}

async fn health(State(s): State<Shared>) -> Response {
    let problem = match s.health {
        Health::Healthy => None,
        Health::UnhealthyStart { start, of } => Some(format!("unhealthy start {start} of {of}")),
        Health::AlwaysUnhealthy { of } => Some(format!(
            "unhealthy start ? of {of} (no HELLO_COUNTER_FILE to count starts)"
        )),
    };
    if let Some(problem) = problem {
        eprintln!("hello: health check failed: {problem}");
        return (StatusCode::SERVICE_UNAVAILABLE, problem).into_response();
    }
    // Still 200, so deployflow's health check passes and only the smoke
    // test (which also reads the body) catches it.
    if breaks(&s, Test::Health) {
        return "degraded".into_response();
    }
    "ok".into_response()
}

async fn root(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if s.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.delay_ms)).await;
    }
    if let Some(every) = s.fail_proxied
        && headers.contains_key("x-forwarded-for")
        && s.proxied.fetch_add(1, Ordering::Relaxed) % every == 0
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, "hello broke").into_response();
    }
    if breaks(&s, Test::Release) {
        return "hello from somewhere".into_response();
    }
    (
        [("x-release", s.release_header.clone())],
        format!("hello from {}", s.release),
    )
        .into_response()
}

async fn greet(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(name) = q.get("name").filter(|n| !n.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "name is required: /greet?name=X").into_response();
    };
    let first = s.greeted.fetch_add(1, Ordering::Relaxed) == 0;
    if s.flaky_greet && first {
        return (StatusCode::INTERNAL_SERVER_ERROR, "not warmed up yet").into_response();
    }
    let name = if breaks(&s, Test::Greet) {
        "stranger"
    } else {
        name.as_str()
    };
    Json(json!({
        "greeting": format!("{}, {name}", s.greeting),
        "release": s.release,
    }))
    .into_response()
}

async fn slow(Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(ms) = q.get("ms").and_then(|ms| ms.parse::<u64>().ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "ms is required: /slow?ms=N, N in milliseconds (at most {SLOW_MAX_MS} are waited)"
            ),
        )
            .into_response();
    };
    let ms = ms.min(SLOW_MAX_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms").into_response()
}

async fn not_found(State(s): State<Shared>) -> Response {
    if breaks(&s, Test::NotFound) {
        return "everything exists here".into_response();
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}
