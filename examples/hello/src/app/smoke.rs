//! `deployflow-hello smoke`: the release's own tests, run by deployflow's
//! test loop against green with `DEPLOYFLOW_TARGET_URL` set. Output is TAP,
//! which the test loop parses; every description starts with the id of the
//! requirement it covers (REQUIREMENTS.md), which the `requirements`
//! reviewer traces.
//!
//! The client is hyper's, in this binary, because the CI machine may not
//! have curl.

use std::process::ExitCode;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Fatal;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies here are a few bytes; anything bigger is a failure, not a read.
const BODY_LIMIT: usize = 64 * 1024;
/// A name with a space, so the test also covers query decoding.
const GREET_NAME: &str = "Ada Lovelace";
const GREET_QUERY: &str = "Ada%20Lovelace";

/// The smoke tests, by the names `HELLO_FAIL_TEST` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    Health,
    Release,
    Greet,
    NotFound,
}

impl Test {
    pub const ALL: [Test; 4] = [Test::Health, Test::Release, Test::Greet, Test::NotFound];

    pub fn name(self) -> &'static str {
        match self {
            Test::Health => "health",
            Test::Release => "release",
            Test::Greet => "greet",
            Test::NotFound => "not-found",
        }
    }

    pub fn from_name(name: &str) -> Option<Test> {
        Test::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The known names, for error messages.
    pub fn names() -> String {
        Test::ALL.map(Test::name).join(", ")
    }

    fn description(self) -> &'static str {
        match self {
            Test::Health => "REQ-1 health answers 200 ok",
            Test::Release => "REQ-2 / names the release",
            Test::Greet => "REQ-3 /greet greets by name",
            Test::NotFound => "REQ-4 an unknown path answers 404",
        }
    }

    /// `Err` carries the diagnostic printed under `not ok`.
    async fn check(self, target: &Target) -> Result<(), String> {
        match self {
            Test::Health => {
                let reply = target.get("/health").await?;
                if reply.status == StatusCode::OK && reply.body.trim() == "ok" {
                    Ok(())
                } else {
                    Err(format!("expected 200 \"ok\", got {reply}"))
                }
            }
            Test::Release => {
                let reply = target.get("/").await?;
                if reply.status != StatusCode::OK {
                    return Err(format!("expected 200, got {reply}"));
                }
                let Some(label) = header(&reply.headers, "x-release") else {
                    return Err(format!("no x-release header in {reply}"));
                };
                if reply.body != format!("hello from {label}") {
                    return Err(format!("expected \"hello from {label}\", got {reply}"));
                }
                // When the runner tells which release it deployed, hold the
                // app to it; otherwise the header and the body must agree.
                match &target.expected_release {
                    Some(expected) if expected != label => {
                        Err(format!("expected release {expected:?}, got {label:?}"))
                    }
                    _ => Ok(()),
                }
            }
            Test::Greet => {
                let reply = target.get(&format!("/greet?name={GREET_QUERY}")).await?;
                if reply.status != StatusCode::OK {
                    return Err(format!("expected 200, got {reply}"));
                }
                let json: serde_json::Value = serde_json::from_str(&reply.body)
                    .map_err(|e| format!("body is not JSON ({e}): {reply}"))?;
                let greeting = json["greeting"].as_str().unwrap_or_default();
                let greeted = greeting
                    .strip_suffix(GREET_NAME)
                    .and_then(|word| word.strip_suffix(", "))
                    .is_some_and(|word| !word.trim().is_empty());
                if !greeted {
                    return Err(format!(
                        "expected a greeting like \"hello, {GREET_NAME}\", got {reply}"
                    ));
                }
                if !json["release"].is_string() {
                    return Err(format!("no release in {reply}"));
                }
                Ok(())
            }
            Test::NotFound => {
                let reply = target.get("/deployflow-smoke/no-such-path").await?;
                if reply.status == StatusCode::NOT_FOUND {
                    Ok(())
                } else {
                    Err(format!("expected 404, got {reply}"))
                }
            }
        }
    }
}

pub async fn run() -> Result<ExitCode, Fatal> {
    let target = Target::from_env()?;
    println!("1..{}", Test::ALL.len());
    let mut failed = 0;
    for (number, test) in (1..).zip(Test::ALL) {
        match test.check(&target).await {
            Ok(()) => println!("ok {number} - {}", test.description()),
            Err(diagnostic) => {
                failed += 1;
                println!("not ok {number} - {}", test.description());
                for line in diagnostic.lines() {
                    println!("# {line}");
                }
            }
        }
    }
    if failed > 0 {
        println!(
            "# {failed} of {} failed against {}",
            Test::ALL.len(),
            target.base
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The app under test.
struct Target {
    /// `DEPLOYFLOW_TARGET_URL` without its trailing `/`.
    base: String,
    expected_release: Option<String>,
    client: Client<HttpConnector, Body>,
}

impl Target {
    fn from_env() -> Result<Self, Fatal> {
        let raw = std::env::var("DEPLOYFLOW_TARGET_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Fatal::usage("DEPLOYFLOW_TARGET_URL is not set: point it at the app, e.g. http://127.0.0.1:8080")
            })?;
        let base = raw.trim_end_matches('/').to_string();
        let uri: Uri = base.parse().map_err(|e| {
            Fatal::usage(format!("DEPLOYFLOW_TARGET_URL={raw:?} is not a URL: {e}"))
        })?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(Fatal::usage(format!(
                "DEPLOYFLOW_TARGET_URL={raw:?} must be an http://host:port URL"
            )));
        }
        Ok(Self {
            base,
            expected_release: std::env::var("DEPLOYFLOW_RELEASE")
                .ok()
                .filter(|r| !r.is_empty()),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// One GET, whole answer read, within `REQUEST_TIMEOUT`.
    async fn get(&self, path: &str) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base);
        let request = Request::get(&url)
            .body(Body::empty())
            .map_err(|e| format!("GET {url}: bad request: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(Body::new(body), BODY_LIMIT)
                .await
                .map_err(|e| error_chain(&e))?;
            Ok::<_, String>(Reply {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(format!("GET {url}: {e}")),
            Err(_) => Err(format!(
                "GET {url}: no answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            )),
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// How a reply shows in a diagnostic: status and the start of the body.
impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = self.body.chars().take(200).collect();
        write!(f, "{} {body:?}", self.status.as_u16())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().filter(|v| !v.is_empty())
}

/// hyper's errors say "client error (Connect)" at the top; the cause, such
/// as "Connection refused", is further down the chain.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
