//! The process backend, the embedded default: each instance is a detached
//! child process in its own process group, so it outlives the control plane
//! and a stop reaches everything it started. Its record, port and logs live
//! in `<data-dir>/instances/<app>/<slot>/`, which is how a restarted control
//! plane re-adopts it.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{Backend, BackendError, Instance, InstanceSpec};
use crate::adapters::shell::{STDERR_LINES, last_lines, run};
use crate::events::Slot;

/// How long an instance gets to finish its requests after SIGTERM, when its
/// record does not say (one written before `runtime.stop_timeout_s`).
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct ProcessBackend {
    root: PathBuf,
}

/// What `instance.json` keeps about the running instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    deployment: String,
    attempt: u32,
    release: String,
    pid: u32,
    port: u16,
    /// The process's start time (clock ticks after boot, from /proc): a pid
    /// reused by another process after a reboot or a wrap does not match.
    #[serde(default)]
    started: Option<u64>,
    /// Seconds between SIGTERM and SIGKILL.
    #[serde(default)]
    stop_timeout_s: Option<u64>,
}

impl ProcessBackend {
    /// Keeps its files under `<data_dir>/instances`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("instances"),
        }
    }

    fn slot_dir(&self, app: &str, slot: Slot) -> PathBuf {
        self.root.join(app).join(slot.name())
    }

    fn record(&self, app: &str, slot: Slot) -> Option<Record> {
        let text = std::fs::read(self.slot_dir(app, slot).join("instance.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn alive(&self, app: &str, slot: Slot, record: &Record) -> bool {
        // The reaper writes `exit` when its child ends; a re-adopted instance
        // (not our child) is reaped by init, and then signal 0 fails.
        !exit_file(&self.slot_dir(app, slot), record.pid).exists() && running_record(record)
    }

    async fn stop_record(
        &self,
        app: &str,
        slot: Slot,
        record: &Record,
    ) -> Result<(), BackendError> {
        let group = Pid::from_raw(record.pid as i32);
        // A live process under that pid that started at another time is not
        // ours (a reboot, a wrap): its group is not ours to signal. While
        // our group lives on without its leader, Linux reuses no pid for it.
        let reused = stat(record.pid)
            .is_some_and(|(_, started)| record.started.is_some_and(|s| s != started));
        if reused || killpg(group, Signal::SIGTERM).is_err() {
            return Ok(()); // already gone
        }
        let grace = record
            .stop_timeout_s
            .map_or(STOP_GRACE, Duration::from_secs);
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if killpg(group, None).is_err() || !self.alive(app, slot, record) {
                // The leader is gone; anything left in its group goes too.
                let _ = killpg(group, Signal::SIGKILL);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        killpg(group, Signal::SIGKILL).map_err(|e| BackendError::Stop {
            slot: slot.name(),
            reason: format!("SIGKILL to process group {}: {e}", record.pid),
        })
    }
}

/// A process's state letter and start time, from /proc/<pid>/stat.
fn stat(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.first()?.to_string(), fields.get(19)?.parse().ok()?))
}

/// Whether the instance `record` names still runs. Signal 0 reaches a
/// zombie too, and where PID 1 does not reap orphans a dead re-adopted
/// instance stays one; and a pid may since belong to another process.
fn running_record(record: &Record) -> bool {
    match stat(record.pid) {
        Some((state, started)) => state != "Z" && record.started.is_none_or(|s| s == started),
        None => false,
    }
}

/// Where the reaper leaves the exit status of process `pid`.
fn exit_file(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("exit-{pid}"))
}

/// Runs the release's build command in its code directory, its output kept
/// in the slot's `build.log`. A rollback's release is not rebuilt: it runs
/// what it ran before.
async fn build_release(spec: &InstanceSpec, build: &str, slot_dir: &Path) -> Result<(), String> {
    let release = spec.release.as_str();
    let output = run(
        build,
        &spec.dir,
        b"",
        spec.build_timeout,
        &[("DEPLOYFLOW_RELEASE", release)],
    )
    .await
    .map_err(|why| format!("the build `{build}`: {why}"))?;
    let log = format!("{}{}", output.stdout, output.stderr);
    // The log is a convenience; a build that ran is judged by its exit.
    let _ = std::fs::write(slot_dir.join("build.log"), &log);
    match output.code {
        Some(0) => Ok(()),
        code => Err(format!(
            "the build `{build}` exited with {}: {}",
            code.map_or("a signal".to_string(), |c| format!("code {c}")),
            last_lines(&log, STDERR_LINES)
        )),
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackendError {
    let context = context.into();
    move |source| BackendError::Io { context, source }
}

/// A port nothing listens on now. The app binds it right after; another
/// program taking it in between shows up as a failed start, which the fix
/// loop's "new port" remedy handles.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".into(),
    }
}

/// How each start's lines begin in an instance's logs.
const START_MARK: &str = "--- deployflow: ";

/// The last `lines` lines a log got since the latest start, or nothing
/// when it cannot be read: a diagnosis never quotes an earlier release.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = bytes.len().saturating_sub(64 * 1024);
    // A partial first line is marked as cut, for the redactor.
    let text = crate::adapters::secrets::text_of_cut(&bytes[start..], start > 0, false);
    let all: Vec<&str> = text.lines().collect();
    let since = all
        .iter()
        .rposition(|line| line.starts_with(START_MARK))
        .map_or(0, |header| header + 1);
    let own = &all[since..];
    own[own.len().saturating_sub(lines)..].join("\n")
}

/// The lines of `text` from `release`'s latest start to the next start (of
/// another release or attempt), the last `tail` of them.
fn section_of<'a>(text: &'a str, release: &str, tail: usize) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let header = format!("{START_MARK}{release} ");
    let Some(from) = lines.iter().rposition(|l| l.starts_with(&header)) else {
        return Vec::new();
    };
    let to = lines[from + 1..]
        .iter()
        .position(|l| l.starts_with(START_MARK))
        .map_or(lines.len(), |n| from + 1 + n);
    let own = &lines[from + 1..to];
    own[own.len().saturating_sub(tail)..].to_vec()
}

#[async_trait]
impl Backend for ProcessBackend {
    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, BackendError> {
        let dir = self.slot_dir(&spec.app, spec.slot);
        let start_error = |reason: String| BackendError::Start {
            release: spec.release.clone(),
            slot: spec.slot.name(),
            reason,
        };
        if let Some(record) = self.record(&spec.app, spec.slot) {
            let same = record.deployment == spec.deployment && record.attempt == spec.attempt;
            if same && self.alive(&spec.app, spec.slot, &record) {
                return Ok(instance(&record));
            }
            self.stop_record(&spec.app, spec.slot, &record).await?;
        }
        stop_unrecorded(&dir);
        if !spec.dir.is_dir() {
            return Err(start_error(format!(
                "the code directory {} does not exist",
                spec.dir.display()
            )));
        }
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        if let (Some(build), false) = (&spec.build_command, spec.restoring) {
            build_release(spec, build, &dir)
                .await
                .map_err(start_error)?;
        }
        let previous: Option<u16> = std::fs::read_to_string(dir.join("port"))
            .ok()
            .and_then(|p| p.trim().parse().ok());
        let port = match previous {
            Some(port) if !spec.fresh_port && port_is_free(port) => port,
            _ => free_port().map_err(io("finding a free port"))?,
        };
        let log = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(io(format!("opening {}", dir.join(name).display())))
        };
        let (mut stdout, mut stderr) = (log("stdout.log")?, log("stderr.log")?);
        use std::io::Write;
        // In both logs: a diagnosis reads only what this start printed.
        let header = format!(
            "{START_MARK}{} attempt {} of deployment {} on port {port} ---",
            spec.release, spec.attempt, spec.deployment
        );
        let _ = writeln!(stdout, "{header}");
        let _ = writeln!(stderr, "{header}");
        let mut command = crate::adapters::child::command("sh");
        command
            .arg("-c")
            .arg(&spec.command)
            .current_dir(&spec.dir)
            .env("PORT", port.to_string())
            .env("DEPLOYFLOW_SLOT", spec.slot.name())
            .env("DEPLOYFLOW_RELEASE", &spec.release)
            .env(INSTANCE_MARK, &dir)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own group: a stop reaches its children, and a Ctrl-C in
            // the control plane's terminal does not reach it.
            .process_group(0)
            .kill_on_drop(false);
        let mut child = command
            .spawn()
            .map_err(|e| start_error(format!("cannot run `sh -c {}`: {e}", spec.command)))?;
        let pid = child
            .id()
            .ok_or_else(|| start_error("the process ended before it had a pid".into()))?;
        let record = Record {
            deployment: spec.deployment.clone(),
            attempt: spec.attempt,
            release: spec.release.clone(),
            pid,
            port,
            started: stat(pid).map(|(_, started)| started),
            stop_timeout_s: Some(spec.stop_timeout.as_secs()),
        };
        let json = serde_json::to_vec(&record).map_err(|e| start_error(e.to_string()))?;
        write_atomically(&dir.join("instance.json"), &json)
            .map_err(io(format!("writing {}", dir.display())))?;
        write_atomically(&dir.join("port"), port.to_string().as_bytes())
            .map_err(io(format!("writing {}", dir.display())))?;
        // Named by pid: the reaper of an instance this start replaced may
        // still be writing its own.
        let exit_file = exit_file(&dir, pid);
        // Reaps the child (no zombie) and leaves its status for diagnoses.
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                let _ = std::fs::write(&exit_file, describe(status));
            }
        });
        Ok(instance(&record))
    }

    async fn running(&self, app: &str, slot: Slot) -> Option<Instance> {
        let record = self.record(app, slot)?;
        self.alive(app, slot, &record).then(|| instance(&record))
    }

    /// A process leaves nothing to keep: a rollback starts the release again
    /// from its recorded code directory and command, whatever `retain` says.
    async fn stop(&self, app: &str, slot: Slot, _retain: bool) -> Result<(), BackendError> {
        let dir = self.slot_dir(app, slot);
        if let Some(record) = self.record(app, slot) {
            self.stop_record(app, slot, &record).await?;
            // Kept as `last.json`: what ran there, for diagnoses and audits.
            let _ = std::fs::rename(dir.join("instance.json"), dir.join("last.json"));
        }
        stop_unrecorded(&dir);
        Ok(())
    }

    async fn output(
        &self,
        app: &str,
        slot: Slot,
        release: &str,
        tail: usize,
    ) -> Result<String, BackendError> {
        let dir = self.slot_dir(app, slot);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let (stdout, stderr) = (read("stdout.log"), read("stderr.log"));
        let (out, err) = (
            section_of(&stdout, release, tail),
            section_of(&stderr, release, tail),
        );
        if out.is_empty() && err.is_empty() && !stdout.contains(&format!("{START_MARK}{release} "))
        {
            return Err(BackendError::Io {
                context: format!(
                    "no output of {release} in the {} slot ({})",
                    slot.name(),
                    dir.display()
                ),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        Ok(format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            out.join("\n"),
            err.join("\n")
        ))
    }

    async fn diagnose(&self, app: &str, slot: Slot) -> String {
        let dir = self.slot_dir(app, slot);
        let record = self.record(app, slot);
        let ended = record.as_ref().is_some_and(|r| !running_record(r));
        let exit = record.as_ref().map(|r| exit_file(&dir, r.pid));
        // The reaper writes the status just after the process ends.
        for _ in 0..if ended { 50 } else { 0 } {
            if exit.as_ref().is_some_and(|e| e.exists()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = exit
            .and_then(|e| std::fs::read_to_string(e).ok())
            .map(|s| format!("the process {s}"))
            .unwrap_or_else(|| {
                if ended {
                    "the process ended"
                } else {
                    "the process is running"
                }
                .into()
            });
        let stderr = tail(&dir.join("stderr.log"), 20);
        let stdout = tail(&dir.join("stdout.log"), 10);
        let said = if stderr.trim().is_empty() {
            &stdout
        } else {
            &stderr
        };
        let lead = crate::flow::evidence::lead(&status, !ended, said);
        format!(
            "{lead}\n--- stderr (last lines) ---\n{stderr}\n--- stdout (last lines) ---\n{stdout}"
        )
    }
}

/// Marks every process of a slot's instance (in its environment, which its
/// children inherit) with the slot's directory, so one whose record was
/// never written, the control plane killed between the spawn and the
/// record, is still found and stopped instead of running on unseen.
const INSTANCE_MARK: &str = "DEPLOYFLOW_INSTANCE";

/// Kills every process group carrying `slot_dir`'s mark: called once the
/// recorded instance is stopped, what is left is what a start lost track
/// of. It never served: no route pointed at an unrecorded instance.
fn stop_unrecorded(slot_dir: &Path) {
    let mark = format!("{INSTANCE_MARK}={}", slot_dir.display());
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in processes.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Another user's processes are unreadable, and not ours to stop.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|var| var == mark.as_bytes()) {
            continue;
        }
        let Some(group) = process_group(pid) else {
            continue;
        };
        if killpg(Pid::from_raw(group as i32), Signal::SIGKILL).is_ok() {
            tracing::warn!(
                "stopped process group {group}, an instance in {} that was never recorded",
                slot_dir.display()
            );
        }
    }
}

/// The process group of `pid`, from /proc/<pid>/stat.
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp ...: fields after the last ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

fn instance(record: &Record) -> Instance {
    Instance {
        id: format!("pid:{}", record.pid),
        endpoint: format!("127.0.0.1:{}", record.port),
        deployment: record.deployment.clone(),
        attempt: record.attempt,
        release: record.release.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, command: &str, attempt: u32) -> InstanceSpec {
        InstanceSpec {
            app: "app".into(),
            deployment: "d1".into(),
            attempt,
            slot: Slot::Green,
            release: "v1".into(),
            command: command.into(),
            build_command: None,
            build_timeout: Duration::from_secs(10),
            dir: dir.to_owned(),
            env: vec![("GREETING".into(), "hi".into())],
            fresh_port: false,
            image: None,
            build: None,
            container_port: 0,
            stop_timeout: Duration::from_secs(10),
            retain: 3,
            volumes: Vec::new(),
            restoring: false,
        }
    }

    /// Whether a process of group `pgid` still runs. Zombies do not count:
    /// where PID 1 does not reap orphans, they stay in the group, signalable.
    fn group_has_live_process(pgid: i32) -> bool {
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid pgrp ...: fields after the last ')'.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
    }

    /// A start cut short between its spawn and its record leaves a marked,
    /// unrecorded instance: the slot's next start, or its stop, ends it.
    #[tokio::test]
    async fn an_instance_whose_record_was_never_written_is_stopped_by_the_next_start() {
        use std::os::unix::process::CommandExt;
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        let slot_dir = backend.slot_dir("app", Slot::Green);
        std::fs::create_dir_all(&slot_dir).unwrap();
        let mut orphans = Vec::new();
        for _ in 0..2 {
            let orphan = crate::adapters::child::std_command("sh")
                .args(["-c", "sleep 100; true"])
                .env(INSTANCE_MARK, &slot_dir)
                .process_group(0)
                .spawn()
                .unwrap();
            orphans.push(orphan);
        }
        let gone = |orphans: &[std::process::Child]| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while orphans
                .iter()
                .any(|o| group_has_live_process(o.id() as i32))
            {
                assert!(std::time::Instant::now() < deadline, "an orphan runs on");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let first = backend
            .start(&spec(data.path(), "sleep 30", 1))
            .await
            .unwrap();
        gone(&orphans[..1]);
        gone(&orphans[1..]);
        // The instance it started is the recorded one, and runs.
        let pid: i32 = first.id.trim_start_matches("pid:").parse().unwrap();
        assert!(group_has_live_process(pid));
        backend.stop("app", Slot::Green, false).await.unwrap();
        assert!(!group_has_live_process(pid));
        for mut orphan in orphans {
            let _ = orphan.wait();
        }
    }

    #[tokio::test]
    async fn the_build_runs_before_the_start_and_a_failed_one_is_the_start_error() {
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        let built = InstanceSpec {
            build_command: Some("echo \"$DEPLOYFLOW_RELEASE\" > built.txt".into()),
            ..spec(data.path(), "cat built.txt; sleep 30", 1)
        };
        backend.start(&built).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(data.path().join("built.txt")).unwrap(),
            "v1\n"
        );
        backend.stop("app", Slot::Green, false).await.unwrap();

        let broken = InstanceSpec {
            build_command: Some("echo 'error[E0308]: mismatched types' >&2; exit 101".into()),
            ..spec(data.path(), "sleep 30", 2)
        };
        let Err(BackendError::Start { reason, .. }) = backend.start(&broken).await else {
            panic!("a failed build must fail the start");
        };
        assert!(
            reason.contains("code 101") && reason.contains("E0308"),
            "{reason}"
        );
        assert!(backend.running("app", Slot::Green).await.is_none());
        let log = data.path().join("instances/app/green/build.log");
        assert!(std::fs::read_to_string(log).unwrap().contains("E0308"));

        // A release restored by a rollback runs what it ran: no build.
        let restored = InstanceSpec {
            restoring: true,
            ..broken
        };
        backend.start(&restored).await.unwrap();
        backend.stop("app", Slot::Green, false).await.unwrap();
    }

    #[tokio::test]
    async fn a_diagnosis_quotes_only_what_the_latest_start_printed() {
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        let first = "echo 'KeyError: the old release' >&2; exit 3";
        backend.start(&spec(data.path(), first, 1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            backend
                .diagnose("app", Slot::Green)
                .await
                .contains("KeyError")
        );
        backend
            .start(&spec(data.path(), "exit 78", 2))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let diagnosis = backend.diagnose("app", Slot::Green).await;
        assert!(!diagnosis.contains("KeyError"), "{diagnosis}");
        assert!(diagnosis.contains("78"), "{diagnosis}");
    }

    #[tokio::test]
    async fn start_is_idempotent_and_stop_ends_the_whole_group() {
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        // A child of the shell: the stop must reach it too.
        let command = "sleep 30 & echo \"$GREETING $PORT $DEPLOYFLOW_SLOT\"; wait";
        let first = backend.start(&spec(data.path(), command, 1)).await.unwrap();
        let again = backend.start(&spec(data.path(), command, 1)).await.unwrap();
        assert_eq!(first, again, "the same attempt is found, not started twice");
        assert!(backend.running("app", Slot::Green).await.is_some());
        let log = data.path().join("instances/app/green/stdout.log");
        let port = first.endpoint.rsplit(':').next().unwrap().to_string();
        let expected = format!("hi {port} green");
        for _ in 0..200 {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&expected)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid: i32 = first.id.trim_start_matches("pid:").parse().unwrap();
        backend.stop("app", Slot::Green, false).await.unwrap();
        assert!(backend.running("app", Slot::Green).await.is_none());
        assert!(!group_has_live_process(pid), "the group is gone");
        let out = std::fs::read_to_string(&log).unwrap();
        assert!(out.contains(&expected), "{out}");
    }

    #[tokio::test]
    async fn a_new_attempt_replaces_the_old_and_keeps_its_port_unless_told() {
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        let first = backend
            .start(&spec(data.path(), "sleep 30", 1))
            .await
            .unwrap();
        let second = backend
            .start(&spec(data.path(), "sleep 30", 2))
            .await
            .unwrap();
        assert_ne!(first.id, second.id);
        assert_eq!(first.endpoint, second.endpoint);
        let mut fresh = spec(data.path(), "sleep 30", 3);
        fresh.fresh_port = true;
        let third = backend.start(&fresh).await.unwrap();
        assert_ne!(third.endpoint, second.endpoint);
        backend.stop("app", Slot::Green, false).await.unwrap();
    }

    #[tokio::test]
    async fn a_crash_is_diagnosed_with_its_status_and_output() {
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        backend
            .start(&spec(data.path(), "echo 'port in use' >&2; exit 3", 1))
            .await
            .unwrap();
        for _ in 0..100 {
            if backend.running("app", Slot::Green).await.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let diagnosis = backend.diagnose("app", Slot::Green).await;
        assert!(diagnosis.contains("exited with status 3"), "{diagnosis}");
        assert!(diagnosis.contains("port in use"), "{diagnosis}");
    }

    #[tokio::test]
    async fn a_pid_that_now_belongs_to_another_process_is_left_alone() {
        use std::os::unix::process::CommandExt;
        let data = tempfile::tempdir().unwrap();
        let backend = ProcessBackend::new(data.path());
        backend
            .start(&spec(data.path(), "sleep 30", 1))
            .await
            .unwrap();
        // As after a reboot: the record's pid now names another program's
        // process (one without the slot's mark), started at another time.
        let mut other = crate::adapters::child::std_command("sh")
            .args(["-c", "sleep 30; true"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = other.id() as i32;
        let file = data.path().join("instances/app/green/instance.json");
        let mut record: Record = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        record.pid = other.id();
        record.started = stat(other.id()).map(|(_, s)| s + 1);
        std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(backend.running("app", Slot::Green).await.is_none());
        backend.stop("app", Slot::Green, false).await.unwrap();
        assert!(
            group_has_live_process(pid),
            "a process not ours was signalled"
        );
        killpg(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let _ = other.wait();
    }
}
