//! A local forge speaking the GitHub REST endpoints deployflow uses (read
//! an issue, list and post its comments, close it), with its issues in
//! memory and every request recorded. Some issue numbers answer as GitHub
//! does when it refuses: 401, 404, 422 and a spent rate limit.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The repository the tests' forge serves, and the token the control
/// plane is given for it.
pub const REPO: &str = "acme/hello";
pub const TOKEN_ENV: &str = "DEPLOYFLOW_TEST_FORGE_TOKEN";
pub const TOKEN: &str = "ghp_0123456789abcdefTOKEN";

/// Issue numbers that make the forge refuse, as GitHub would.
pub const UNAUTHORIZED: u64 = 401;
pub const NOT_FOUND: u64 = 404;
pub const UNPROCESSABLE: u64 = 422;
pub const RATE_LIMITED: u64 = 429;

#[derive(Clone, Debug)]
pub struct Issue {
    pub open: bool,
    pub pull_request: bool,
    pub comments: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct Forge {
    issues: BTreeMap<u64, Issue>,
    requests: Vec<Recorded>,
}

type Shared = Arc<Mutex<Forge>>;

pub struct FakeForge {
    pub addr: SocketAddr,
    state: Shared,
}

impl FakeForge {
    /// Serves `repo`'s issues from a thread of its own; `open`, `closed`
    /// and `pulls` are the issue numbers that exist.
    pub fn start(repo: &str, open: &[u64], closed: &[u64], pulls: &[u64]) -> FakeForge {
        let mut forge = Forge::default();
        for (numbers, is_open, pull_request) in [
            (open, true, false),
            (closed, false, false),
            (pulls, true, true),
        ] {
            for n in numbers {
                forge.issues.insert(
                    *n,
                    Issue {
                        open: is_open,
                        pull_request,
                        comments: Vec::new(),
                    },
                );
            }
        }
        let state: Shared = Arc::new(Mutex::new(forge));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the forge");
        let addr = listener.local_addr().expect("forge address");
        listener.set_nonblocking(true).expect("nonblocking");
        let prefix = format!("/repos/{repo}/issues/{{number}}");
        let app = Router::new()
            .route(&prefix, get(read_issue).patch(close_issue))
            .route(
                &format!("{prefix}/comments"),
                get(list_comments).post(post_comment),
            )
            .with_state(state.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("forge runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app).await;
            });
        });
        FakeForge { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn issue(&self, number: u64) -> Issue {
        self.state.lock().expect("forge state").issues[&number].clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("forge state").requests.clone()
    }
}

fn record(state: &Shared, method: &str, path: String, headers: &HeaderMap, body: Value) {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.lock().expect("forge state").requests.push(Recorded {
        method: method.into(),
        path,
        authorization,
        body,
    });
}

/// GitHub's refusals, by issue number; `None` lets the call through.
fn refusal(number: u64, method: &str) -> Option<Response> {
    let message = |m: &str| {
        Json(json!({ "message": m, "documentation_url": "https://docs.github.com/rest" }))
    };
    match number {
        UNAUTHORIZED => {
            Some((StatusCode::UNAUTHORIZED, message("Bad credentials")).into_response())
        }
        NOT_FOUND => Some((StatusCode::NOT_FOUND, message("Not Found")).into_response()),
        UNPROCESSABLE if method == "PATCH" => Some(
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                message("Validation Failed: state_reason is invalid"),
            )
                .into_response(),
        ),
        RATE_LIMITED => Some(
            (
                StatusCode::FORBIDDEN,
                [
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1767225600"),
                ],
                message("API rate limit exceeded for user ID 1."),
            )
                .into_response(),
        ),
        _ => None,
    }
}

/// Records a call; answers a refusal for the refusing numbers, 404 for an
/// issue that does not exist, and otherwise what `answer` makes of it.
fn handle(
    state: &Shared,
    method: &str,
    path: String,
    headers: &HeaderMap,
    body: Value,
    number: u64,
    answer: impl FnOnce(&mut Issue) -> Response,
) -> Response {
    record(state, method, path, headers, body);
    if let Some(refused) = refusal(number, method) {
        return refused;
    }
    let mut forge = state.lock().expect("forge state");
    match forge.issues.get_mut(&number) {
        Some(issue) => answer(issue),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": "Not Found" })),
        )
            .into_response(),
    }
}

async fn read_issue(
    State(state): State<Shared>,
    Path(number): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let path = format!("issues/{number}");
    handle(
        &state,
        "GET",
        path,
        &headers,
        Value::Null,
        number,
        |issue| {
            let mut body = json!({
                "number": number,
                "state": if issue.open { "open" } else { "closed" },
                "title": format!("issue {number}"),
            });
            if issue.pull_request {
                body["pull_request"] = json!({ "url": "https://example.invalid/pull" });
            }
            Json(body).into_response()
        },
    )
}

async fn list_comments(
    State(state): State<Shared>,
    Path(number): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let path = format!("issues/{number}/comments");
    handle(
        &state,
        "GET",
        path,
        &headers,
        Value::Null,
        number,
        |issue| {
            let comments: Vec<Value> = issue
                .comments
                .iter()
                .map(|c| json!({ "body": c }))
                .collect();
            Json(comments).into_response()
        },
    )
}

async fn post_comment(
    State(state): State<Shared>,
    Path(number): Path<u64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("issues/{number}/comments");
    let text = body["body"].as_str().unwrap_or_default().to_string();
    handle(&state, "POST", path, &headers, body, number, |issue| {
        issue.comments.push(text.clone());
        (StatusCode::CREATED, Json(json!({ "id": 1, "body": text }))).into_response()
    })
}

async fn close_issue(
    State(state): State<Shared>,
    Path(number): Path<u64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("issues/{number}");
    let closing = body["state"] == "closed";
    handle(&state, "PATCH", path, &headers, body, number, |issue| {
        if closing {
            issue.open = false;
        }
        let state = if issue.open { "open" } else { "closed" };
        Json(json!({ "number": number, "state": state })).into_response()
    })
}
