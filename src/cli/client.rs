//! The command line's side of the control plane's API. When no control
//! plane answers, it starts `deployflow serve` in the background (detached,
//! with this process's environment, so secrets in it reach instances) and
//! waits for it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use serde_json::Value;

use super::Exit;
use deployflow::server::auth::TOKEN_ENV;

/// An error the API answered: its message and the exit code it means.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    pub message: String,
    pub exit: Exit,
    pub body: Value,
}

pub struct Client {
    base: String,
    http: reqwest::Client,
    /// For the event stream: no limit on the whole answer, which lasts as
    /// long as it is followed; the server's keep-alives every 15 s keep
    /// the read timeout from firing on a quiet log.
    streaming: reqwest::Client,
}

/// Where commands find the control plane unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// `--server` (or `DEPLOYFLOW_SERVER`) was given: that address is meant,
/// whoever answers there.
fn chosen(server: &str) -> bool {
    server != DEFAULT_SERVER || std::env::var_os("DEPLOYFLOW_SERVER").is_some()
}

/// The address `data_dir`'s control plane said it answers at.
fn recorded_address(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(deployflow::server::ADDR_FILE)).ok()?;
    let address = text.trim();
    address
        .starts_with("http://127.")
        .then(|| address.to_string())
}

/// A loopback port nothing listens on now.
fn free_loopback() -> anyhow::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// A stream goes quiet at most this long between keep-alives.
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// A client of the control plane at `server`, started with `data_dir`
    /// if nothing answers there.
    pub async fn connect(server: &str, data_dir: &Path) -> anyhow::Result<Client> {
        if let Some(found) = Client::find(server, data_dir).await? {
            return Ok(found);
        }
        let default = Client::new(server)?;
        if !chosen(server) && default.is_up().await {
            // Another app's control plane holds the default address: this
            // data dir gets one of its own beside it, never that one's log.
            let own = Client::new(&format!("http://{}", free_loopback()?))?;
            own.start_server(data_dir).await?;
            return Ok(own);
        }
        Client::connect_at(server, data_dir).await
    }

    /// The control plane that answers for `data_dir`, if one runs: at a
    /// `server` given on purpose, whatever it keeps; else the one this
    /// data dir recorded, or the default address's when it keeps this
    /// data dir's log. Starts nothing.
    pub async fn find(server: &str, data_dir: &Path) -> anyhow::Result<Option<Client>> {
        if chosen(server) {
            let client = Client::new(server)?;
            let up = client.is_up().await || client.is_up().await;
            return Ok(up.then_some(client));
        }
        if let Some(recorded) = recorded_address(data_dir) {
            let client = Client::new(&recorded)?;
            if client.is_up().await && client.keeps(data_dir).await {
                return Ok(Some(client));
            }
        }
        let client = Client::new(server)?;
        let up = client.is_up().await || client.is_up().await;
        Ok((up && client.keeps(data_dir).await).then_some(client))
    }

    /// Where this client sends its requests.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The control plane at `server`, started there with `data_dir` when
    /// nothing answers.
    async fn connect_at(server: &str, data_dir: &Path) -> anyhow::Result<Client> {
        let client = Client::new(server)?;
        // A busy control plane may be slow to answer: ask twice before
        // concluding there is none.
        if client.is_up().await || client.is_up().await {
            return Ok(client);
        }
        // Something holds the address: a control plane too busy to answer
        // yet (starting, or on a loaded machine). Starting another would
        // only fail to bind; wait for this one instead.
        if client.address_taken().await {
            for _ in 0..40 {
                if client.is_up().await {
                    return Ok(client);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            anyhow::bail!(
                "something listens at {} but does not answer as a control plane",
                client.base
            );
        }
        client.start_server(data_dir).await?;
        Ok(client)
    }

    /// Whether this control plane keeps its log in `data_dir`. One too
    /// old to say is taken to.
    async fn keeps(&self, data_dir: &Path) -> bool {
        let Ok(answer) = self.get("/api/control-plane").await else {
            return true;
        };
        let Some(theirs) = answer["data_dir"].as_str().map(PathBuf::from) else {
            return true;
        };
        let ours = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        theirs == ours
    }

    pub fn new(server: &str) -> anyhow::Result<Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .with_context(|| format!("{TOKEN_ENV} is not a valid header value"))?;
            // Kept out of debug output and HTTP/2 header compression.
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(Client {
            base: server.trim_end_matches('/').to_string(),
            http: deployflow::adapters::http::client_builder()
                .no_proxy()
                .default_headers(headers.clone())
                .timeout(Duration::from_secs(120))
                .build()
                .context("building the HTTP client")?,
            streaming: deployflow::adapters::http::client_builder()
                .no_proxy()
                .default_headers(headers)
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(STREAM_READ_TIMEOUT)
                .build()
                .context("building the HTTP client")?,
        })
    }

    /// A client of a control plane this process starts itself: waits for
    /// it to answer, never starts another.
    pub async fn attach(server: &str) -> anyhow::Result<Client> {
        let client = Client::new(server)?;
        for _ in 0..200 {
            if client.is_up().await {
                return Ok(client);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(anyhow!(
            "the control plane at {server} did not answer within 10 s"
        ))
    }

    /// `GET /api/events?QUERY`: the log's events as they are committed.
    pub async fn events(
        &self,
        query: &str,
    ) -> anyhow::Result<impl futures_util::Stream<Item = anyhow::Result<Streamed>> + use<>> {
        use eventsource_stream::Eventsource;
        use futures_util::StreamExt;
        let response = self
            .streaming
            .get(format!("{}/api/events?{query}", self.base))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .with_context(|| format!("asking the control plane at {} for its events", self.base))?;
        if !response.status().is_success() {
            return Err(answer(response)
                .await
                .err()
                .unwrap_or_else(|| anyhow!("the control plane refused the event stream")));
        }
        Ok(response.bytes_stream().eventsource().map(|read| {
            let event = read.context("reading the control plane's event stream")?;
            Ok(if event.event == "error" {
                let body: Value = serde_json::from_str(&event.data).unwrap_or_default();
                Streamed::Failed {
                    message: body["error"].as_str().unwrap_or(&event.data).to_string(),
                    exit: Exit::from_code(body["code"].as_i64().unwrap_or(1)),
                }
            } else {
                Streamed::Line(event.data)
            })
        }))
    }

    /// Whether anything accepts connections at the server's address.
    async fn address_taken(&self) -> bool {
        let authority = self.authority();
        matches!(
            tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(authority)
            )
            .await,
            Ok(Ok(_))
        )
    }

    pub async fn is_up(&self) -> bool {
        let probe = self
            .http
            .get(format!("{}/api/health", self.base))
            .timeout(Duration::from_secs(2));
        // 503: it runs, unwell (its log full, say); its answers say why.
        matches!(probe.send().await, Ok(r) if r.status().is_success()
            || r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE)
    }

    /// `host:port` of the server's URL.
    fn authority(&self) -> String {
        self.base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string()
    }

    async fn start_server(&self, data_dir: &Path) -> anyhow::Result<()> {
        let listen = self.authority();
        if !listen.starts_with("127.")
            && !listen.starts_with("localhost")
            && !listen.starts_with("[::1]")
        {
            anyhow::bail!(
                "no control plane answers at {} (only one on this machine is started on demand)",
                self.base
            );
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let log_path = data_dir.join("serve.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let exe = std::env::current_exe().context("finding deployflow's binary")?;
        let mut command = deployflow::adapters::child::control_plane(exe);
        command
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().context("starting deployflow serve")?;
        for _ in 0..200 {
            if self.is_up().await {
                eprintln!(
                    "started a control plane at {} (log {}, data {})",
                    self.base,
                    log_path.display(),
                    data_dir.display()
                );
                // It outlives this command; a thread reaps it if it ends first.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                anyhow::bail!(
                    "deployflow serve {status}; see {}:\n{}",
                    log_path.display(),
                    tail(&log_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(anyhow!(
            "deployflow serve did not answer on {listen} within 10 s; see {}",
            log_path.display()
        ))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("asking the control plane at {}", self.base))?;
        answer(response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .with_context(|| format!("asking the control plane at {}", self.base))?;
        answer(response).await
    }
}

/// One message of the event stream.
pub enum Streamed {
    /// An event as its JSON line.
    Line(String),
    /// The log could not be read past here.
    Failed { message: String, exit: Exit },
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the control plane's answer is not JSON")?;
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]
        .as_str()
        .unwrap_or("request failed")
        .to_string();
    let exit = Exit::from_code(body["code"].as_i64().unwrap_or(1));
    Err(ApiFailure {
        message,
        exit,
        body,
    }
    .into())
}

fn tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
