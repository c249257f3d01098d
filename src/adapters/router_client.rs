//! The control plane's side of the router's admin API: it sets routes and
//! drains upstreams, and starts the router (detached, so it outlives the
//! control plane) when none answers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::health::error_chain;
use crate::router::CHANGE_HEADER;

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("the router's admin API at {admin} {what}: {detail}")]
    Api {
        admin: SocketAddr,
        what: &'static str,
        detail: String,
    },
    #[error("cannot start the router: {0}")]
    Start(String),
}

#[derive(Clone)]
pub struct RouterClient {
    admin: SocketAddr,
    /// Where a router this client starts keeps its routes and log.
    state_dir: PathBuf,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct DrainReport {
    pub in_flight: u32,
    pub waited_ms: u64,
    pub drained: bool,
}

impl RouterClient {
    pub fn new(admin: SocketAddr, state_dir: &Path) -> Self {
        Self {
            admin,
            state_dir: state_dir.to_owned(),
            http: crate::adapters::http::client_builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap_or_default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    fn api_error(&self, what: &'static str) -> impl Fn(reqwest::Error) -> RouterError + '_ {
        move |e| RouterError::Api {
            admin: self.admin,
            what,
            detail: error_chain(&e),
        }
    }

    pub async fn is_up(&self) -> bool {
        let probe = self
            .http
            .get(self.url("/health"))
            .timeout(Duration::from_millis(500));
        matches!(probe.send().await, Ok(r) if r.status().is_success())
    }

    /// Starts `deployflow router` in its own process group unless one
    /// answers, and waits until it does.
    pub async fn ensure_running(&self) -> Result<(), RouterError> {
        if self.is_up().await {
            return Ok(());
        }
        let exe = std::env::current_exe()
            .map_err(|e| RouterError::Start(format!("cannot find deployflow's binary: {e}")))?;
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| RouterError::Start(format!("{}: {e}", self.state_dir.display())))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state_dir.join("router.log"))
            .map_err(|e| RouterError::Start(format!("router.log: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| RouterError::Start(format!("router.log: {e}")))?;
        let mut command = crate::adapters::child::std_command(exe);
        command
            .arg("router")
            .arg("--admin")
            .arg(self.admin.to_string())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| RouterError::Start(e.to_string()))?;
        // Reaped when it ends (it normally outlives us).
        std::thread::spawn(move || child.wait());
        // A new router answers within milliseconds; poll closely, as this
        // wait is part of the first deployment's own time.
        for _ in 0..500 {
            if self.is_up().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(RouterError::Start(format!(
            "it did not answer on {} within 5 s; see {}",
            self.admin,
            self.state_dir.join("router.log").display()
        )))
    }

    /// Points `app`'s public address at `upstream`, atomically.
    pub async fn set_route(
        &self,
        app: &str,
        listen: SocketAddr,
        upstream: &str,
    ) -> Result<(), RouterError> {
        let response = self
            .http
            .put(self.url(&format!("/routes/{app}")))
            .header(CHANGE_HEADER, "1")
            .json(&json!({ "listen": listen, "upstream": upstream }))
            .send()
            .await
            .map_err(self.api_error("did not take the route"))?;
        self.check(response, "refused the route").await
    }

    /// Splits `app`'s traffic: `percent` to `green`, the rest to `blue`,
    /// placed as `split` says; atomically, as every route change.
    pub async fn set_split(
        &self,
        app: &str,
        listen: SocketAddr,
        blue: &str,
        green: &str,
        percent: u8,
        split: &crate::router::Split,
    ) -> Result<(), RouterError> {
        let route = json!({
            "listen": listen,
            "upstream": blue,
            "canary": { "upstream": green, "percent": percent, "split": split },
        });
        let response = self
            .http
            .put(self.url(&format!("/routes/{app}")))
            .header(CHANGE_HEADER, "1")
            .json(&route)
            .send()
            .await
            .map_err(self.api_error("did not take the split"))?;
        self.check(response, "refused the split").await
    }

    /// Per upstream, the router's counters (its `GET /stats`), asked with
    /// `timeout`: a router that is down must not hold up a scrape.
    pub async fn stats(&self, timeout: Duration) -> Result<serde_json::Value, RouterError> {
        let response = self
            .http
            .get(self.url("/stats"))
            .timeout(timeout)
            .send()
            .await
            .map_err(self.api_error("did not answer"))?;
        response
            .json()
            .await
            .map_err(self.api_error("sent bad stats"))
    }

    /// The upstream `app` is routed to now, if any.
    pub async fn route(&self, app: &str) -> Result<Option<String>, RouterError> {
        let response = self
            .http
            .get(self.url(&format!("/routes/{app}")))
            .send()
            .await
            .map_err(self.api_error("did not answer"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(self.api_error("sent a bad route"))?;
        Ok(body["upstream"].as_str().map(str::to_string))
    }

    /// Waits until no request is in flight to `upstream`, or `timeout`.
    pub async fn drain(
        &self,
        upstream: &str,
        timeout: Duration,
    ) -> Result<DrainReport, RouterError> {
        let response = self
            .http
            .post(self.url("/drain"))
            // The router answers when the drain ends: give it that long.
            .timeout(timeout + Duration::from_secs(10))
            .header(CHANGE_HEADER, "1")
            .json(&json!({ "upstream": upstream, "timeout_ms": timeout.as_millis() as u64 }))
            .send()
            .await
            .map_err(self.api_error("did not drain"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(RouterError::Api {
                admin: self.admin,
                what: "refused the drain",
                detail: format!("{status}: {text}"),
            });
        }
        response
            .json()
            .await
            .map_err(self.api_error("sent a bad drain report"))
    }

    async fn check(
        &self,
        response: reqwest::Response,
        what: &'static str,
    ) -> Result<(), RouterError> {
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(RouterError::Api {
            admin: self.admin,
            what,
            detail: format!("{status}: {text}"),
        })
    }
}
