//! A deployment scenario through the binary: a workspace with the example
//! app's code and a deployflow.toml with knobs, a control plane of its own,
//! and traffic to the router. Dropping it stops everything it started.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use super::copy_dir;

pub const HELLO: &str = env!("CARGO_BIN_EXE_deployflow-hello");

/// What a release's config says beyond the defaults.
#[derive(Clone, Default)]
pub struct Knobs {
    /// Extra `env` entries, TOML inline-table syntax: `, HELLO_X = "1"`.
    pub env: String,
    pub manual_gate: bool,
    /// Extra lines for `[runtime]`.
    pub runtime: String,
    /// Docker: extra lines for the release's Dockerfile.
    pub dockerfile: String,
    /// Extra lines at the end of `[review]`, where `[members.X]` and
    /// other tables may follow.
    pub review: String,
    /// The process backend's start command, instead of the example app.
    pub command: Option<String>,
}

impl Knobs {
    /// A release that waits at the manual gate.
    pub fn gated() -> Knobs {
        Knobs {
            manual_gate: true,
            ..Knobs::default()
        }
    }
}

pub struct Scenario {
    /// The app's name: `hello`, or one of its own on the shared Docker
    /// engine, where names are global.
    pub app: String,
    /// Deployed as containers (the docker backend) instead of processes.
    pub docker: bool,
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub api: SocketAddr,
    serve: Option<Child>,
}

impl Scenario {
    /// A workspace and a running control plane; no release deployed yet.
    pub fn new() -> Scenario {
        let dir = tempfile::tempdir().expect("workspace");
        let data = dir.path().join("data");
        Scenario {
            app: "hello".into(),
            docker: false,
            config: dir.path().join("deployflow.toml"),
            data,
            listen: quiet_addr(),
            admin: quiet_addr(),
            api: quiet_addr(),
            dir,
            serve: None,
        }
    }

    /// A scenario on the machine's Docker engine, with an app name no other
    /// test uses.
    pub fn docker() -> Scenario {
        super::docker::base_image();
        let mut scenario = Scenario::new();
        scenario.app = format!("dft-{}-{}", std::process::id(), scenario.listen.port());
        scenario.docker = true;
        scenario
    }

    /// This scenario with its control plane started and v1 deployed and
    /// serving: where most flow tests begin.
    pub fn with_v1(mut self) -> Scenario {
        self.start_server();
        self.release("v1", &Knobs::default());
        let out = self.deploy("v1");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            text(&out),
            self.serve_log()
        );
        assert_eq!(self.serving().as_deref(), Some("hello from v1"));
        self
    }

    /// Starts `deployflow serve` for this scenario and waits for it.
    pub fn start_server(&mut self) {
        self.start_server_with(&[]);
    }

    /// Whether the control plane ended by itself within `timeout`.
    pub fn server_ended_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.serve.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) | None => {
                    self.serve = None;
                    return true;
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        false
    }

    /// `start_server` with extra environment (e.g. `FAILPOINTS`).
    pub fn start_server_with(&mut self, env: &[(&str, &str)]) {
        self.start_server_with_args(&[], env);
    }

    /// `start_server` with extra arguments to `serve` and environment.
    pub fn start_server_with_args(&mut self, args: &[&str], env: &[(&str, &str)]) {
        // Appended: the lines of a control plane that died stay readable.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .expect("serve log");
        let child = Command::new(env!("CARGO_BIN_EXE_deployflow"))
            .args(["serve", "--listen", &self.api.to_string(), "--data-dir"])
            .arg(&self.data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .envs(env.iter().copied())
            .spawn()
            .expect("start deployflow serve");
        self.serve = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.api).is_err() {
            assert!(
                Instant::now() < deadline,
                "serve did not start: {}",
                self.serve_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the control plane as a crash would (SIGKILL).
    pub fn kill_server(&mut self) {
        if let Some(mut serve) = self.serve.take() {
            let _ = serve.kill();
            let _ = serve.wait();
        }
    }

    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Writes release `label`'s code (the example app) and the config that
    /// deploys it. Returns the code directory.
    pub fn release(&self, label: &str, knobs: &Knobs) -> PathBuf {
        let code = self.dir.path().join(format!("code-{label}"));
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
        copy_dir(&example, &code);
        let runtime_kind = if self.docker {
            std::fs::write(
                code.join("Dockerfile"),
                format!("FROM {}\n{}", super::docker::base_image(), knobs.dockerfile),
            )
            .expect("write Dockerfile");
            format!(
                "backend = \"docker\"\nbuild = {{ context = \"code-{label}\" }}\ncontainer_port = 8080\nstop_timeout_s = 2"
            )
        } else {
            let command = knobs.command.clone().unwrap_or(format!("'{HELLO}'"));
            format!("command = \"{command}\"")
        };
        let config = format!(
            r#"[app]
name = "{app}"

[inputs]
code = "code-{label}"
requirements = "code-{label}/REQUIREMENTS.md"
tests = "'{HELLO}' smoke"

[runtime]
{runtime_kind}
env = {{ GREETING = "hello"{env} }}
{runtime}

[health]
interval_ms = 50
deadline_s = 5

[router]
listen = "{listen}"
admin = "{admin}"
drain_timeout_s = 5

[review]
max_rounds = 2
manual_gate = {gate}
{review}
"#,
            app = self.app,
            env = knobs.env,
            runtime = knobs.runtime,
            listen = self.listen,
            admin = self.admin,
            gate = knobs.manual_gate,
            review = knobs.review,
        );
        std::fs::write(&self.config, config).expect("write config");
        code
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deployflow"));
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--server")
            .arg(format!("http://{}", self.api))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run deployflow")
    }

    /// A command's JSON output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(out.status.success(), "deployflow {args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    }

    pub fn deploy(&self, release: &str) -> Output {
        self.cli(&["deploy", "--release", release])
    }

    /// `deploy` while requests go through the router the whole time.
    pub fn deploy_under_load(&self, release: &str) -> (Output, LoadReport) {
        let load = Load::start(self.listen);
        let out = self.deploy(release);
        (out, load.finish())
    }

    /// `deploy` in the background, for the manual gate and the lock.
    pub fn deploy_in_background(&self, release: &str) -> Child {
        self.command(&["deploy", "--release", release])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start deploy")
    }

    /// `deploy --wait` in the background.
    pub fn deploy_with_wait_in_background(&self, release: &str) -> Child {
        self.command(&["deploy", "--wait", "--release", release])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start deploy --wait")
    }

    /// The deployment of the app that is in progress, once there is one.
    pub fn wait_in_progress(&self, phase: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = self.json(&["history"]);
            let found = rows
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["status"] == "in_progress" && r["phase"] == phase);
            if let Some(row) = found {
                return row["id"].as_str().expect("id").to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no deployment reached {phase}: {rows}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The app's answer through the router: which release serves.
    pub fn serving(&self) -> Option<String> {
        get(self.listen)
            .ok()
            .map(|(_, body)| body.trim().to_string())
    }

    /// The deployment's events, as `show --json` gives them.
    pub fn events(&self, id: &str) -> Vec<Value> {
        self.json(&["show", id])["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The kinds of deployment `id`'s events, in order.
    pub fn kinds(&self, id: &str) -> Vec<String> {
        self.events(id)
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The payloads of deployment `id`'s events of `kind`, in order.
    pub fn payloads(&self, id: &str, kind: &str) -> Vec<Value> {
        self.events(id)
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["event"][kind].clone())
            .collect()
    }

    /// Why the newest deployment ended, as `history --json` says it.
    pub fn last_reason(&self) -> String {
        self.json(&["history"])[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The newest deployment's id.
    pub fn last_id(&self) -> String {
        self.json(&["history", "--limit", "1"])[0]["id"]
            .as_str()
            .expect("a deployment")
            .to_string()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(mut serve) = self.serve.take() {
            let _ = serve.kill();
            let _ = serve.wait();
        }
        // The instances, the router and any control plane a command started
        // are detached: stop them by their files.
        let pid_in = |path: PathBuf, key: Option<&str>| -> Option<i32> {
            let text = std::fs::read_to_string(path).ok()?;
            match key {
                Some(key) => serde_json::from_str::<Value>(&text).ok()?[key]
                    .as_i64()
                    .map(|p| p as i32),
                None => text.trim().parse().ok(),
            }
        };
        for slot in ["blue", "green"] {
            let record = self
                .data
                .join("instances")
                .join(&self.app)
                .join(slot)
                .join("instance.json");
            if let Some(pid) = pid_in(record, Some("pid")) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for file in ["router/router.lock", "serve.pid"] {
            if let Some(pid) = pid_in(self.data.join(file), None) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if self.docker {
            super::docker::remove_app(&self.app);
        }
    }
}

/// The tier of each fix attempt, in order.
pub fn fix_tiers(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "fix_attempted")
        .map(|e| {
            e["event"]["fix_attempted"]["tier"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// How many test runs of a deployment's events had a failing test.
pub fn failing_test_runs(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == "test_run_completed")
        .filter(|e| e["event"]["test_run_completed"]["failed"] == 1)
        .count()
}

/// Writes a hard-coded private key into `code` as `deploy-key.pem`: what
/// the hygiene reviewer must find. Assembled here so no test file holds a
/// key for a scanner to find.
pub fn plant_private_key(code: &Path) {
    let key = format!(
        "-----BEGIN {kind} PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END {kind} PRIVATE KEY-----\n",
        kind = "RSA"
    );
    std::fs::write(code.join("deploy-key.pem"), key).expect("write key");
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One HTTP/1.1 request on its own connection: status and body.
pub fn get(addr: SocketAddr) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: hello\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// Answered requests, the releases that answered, the failures.
type Seen = (u64, Vec<String>, Vec<String>);

/// Requests to the router while a deployment runs: every answer counted,
/// and the releases that answered, in order.
pub struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub struct LoadReport {
    pub answered: u64,
    /// Every request that did not get a 2xx, with what happened.
    pub failures: Vec<String>,
    /// The releases that answered, each change once.
    pub releases: Vec<String>,
}

impl Load {
    pub fn start(addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((0, Vec::new(), Vec::new())));
        let (s, r) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let result = get(addr);
                let mut seen = r.lock().expect("load lock");
                match result {
                    Ok((200, body)) => {
                        seen.0 += 1;
                        let release = body.trim().rsplit(' ').next().unwrap_or("").to_string();
                        if seen.1.last() != Some(&release) {
                            seen.1.push(release);
                        }
                    }
                    Ok((status, body)) => seen.2.push(format!("{status}: {body}")),
                    Err(e) => seen.2.push(e.to_string()),
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Load {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let seen = self.seen.lock().expect("load lock");
        LoadReport {
            answered: seen.0,
            releases: seen.1.clone(),
            failures: seen.2.clone(),
        }
    }
}

/// Ends a deploy whose control plane was killed: it would wait for one to
/// come back, and the test brings it back itself when it needs it.
pub fn stop_following(mut deploy: Child) {
    let _ = deploy.kill();
    let _ = deploy.wait();
}

/// The example app's processes (not zombies, not the `sh` around them)
/// whose working directory is under `dir`: the releases still running.
pub fn running_releases(dir: &Path) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(')')?.1.split_whitespace().next()? == "Z";
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let app = cmdline.contains("deployflow-hello") && !cmdline.starts_with("sh ");
            (app && !zombie && cwd.starts_with(dir)).then_some(cmdline)
        })
        .collect()
}

/// A free loopback port below Linux's ephemeral range (32768 and up). The
/// scenario's addresses are taken long after they are chosen (a router
/// starts at the first switch), and app instances take ephemeral ports
/// meanwhile: from that range, one could take a port chosen here.
pub fn quiet_addr() -> SocketAddr {
    use std::sync::atomic::AtomicU16;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let spread = (std::process::id() % 97) as u16 * 100;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 9_000;
        let port = 21_000 + (spread + offset) % 11_000;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}
