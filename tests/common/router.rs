//! The router binary under test, and a small HTTP client to talk to it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

pub struct RouterProcess {
    pub admin: SocketAddr,
    pub state_dir: PathBuf,
    child: Child,
}

impl RouterProcess {
    pub async fn start(state_dir: &Path, extra: &[&str]) -> RouterProcess {
        let admin = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .args(["router", "--admin", &admin.to_string(), "--state-dir"])
            .arg(state_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the router");
        let router = RouterProcess {
            admin,
            state_dir: state_dir.to_path_buf(),
            child,
        };
        let started = Instant::now();
        loop {
            if let Ok((StatusCode::OK, _, _)) =
                send(Method::GET, &router.url("/health"), None).await
            {
                return router;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the router did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let (status, _, bytes) = send_with(
            method,
            &self.url(path),
            body.map(|b| b.to_string()),
            &[("x-deployflow-admin", "1")],
        )
        .await
        .expect("admin request");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    pub async fn set_route(&self, app: &str, listen: SocketAddr, upstream: SocketAddr) {
        let (status, body) = self
            .admin(
                Method::PUT,
                &format!("/routes/{app}"),
                Some(serde_json::json!({ "listen": listen, "upstream": upstream })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Pauses `app`, holding requests up to `max_hold_ms`.
    pub async fn pause(&self, app: &str, max_hold_ms: u64) {
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/routes/{app}/pause"),
                Some(serde_json::json!({ "max_hold_ms": max_hold_ms })),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    /// `POST /drain` for `upstream`; the answer's JSON.
    pub async fn drain(&self, upstream: SocketAddr, timeout_ms: u64) -> serde_json::Value {
        let (status, drained) = self
            .admin(
                Method::POST,
                "/drain",
                Some(serde_json::json!({ "upstream": upstream, "timeout_ms": timeout_ms })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{drained}");
        drained
    }

    /// Asks the router to stop (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for the router")
    }

    /// Kills the router as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// One request; the status, headers and whole body, or the transport error.
pub async fn send(
    method: Method,
    url: &str,
    json: Option<String>,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    send_with(method, url, json, &[]).await
}

pub async fn send_with(
    method: Method,
    url: &str,
    json: Option<String>,
    headers: &[(&str, &str)],
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if json.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(json.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let response = client().request(request).await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

pub async fn get(url: &str) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    send(Method::GET, url, None).await
}
