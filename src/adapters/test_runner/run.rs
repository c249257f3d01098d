//! Running the test command: `sh -c` in the code directory, its output
//! captured, its summary read.

use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::TestRun;
use super::capture::{Captured, Chunk, Readers, Sink, Source, send};
use super::junit::junit_in_text;
use super::process::{Ending, Process};
use super::reports::find_junit_report;
use super::summary::Summary;

/// What to run, where, and against which green.
#[derive(Debug, Clone)]
pub struct TestSpec {
    pub command: String,
    /// The release's code directory; the command runs in it.
    pub dir: PathBuf,
    /// Green's direct address, given as `DEPLOYFLOW_TARGET_URL`.
    pub target_url: String,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Where the whole output goes (`TestRun::output` keeps its end).
    pub log_path: PathBuf,
}

/// Why there is no `TestRun`. A command that ran and failed is not an
/// error: it is a `TestRun` with failures.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    #[error("test command `{command}`: directory {} does not exist", .dir.display())]
    DirMissing { command: String, dir: PathBuf },
    #[error("test command `{command}` could not run: {reason}")]
    NotRunnable { command: String, reason: String },
    #[error("test command `{command}`: {context}: {source}")]
    Io {
        command: String,
        context: String,
        #[source]
        source: io::Error,
    },
}

const CHANNEL_DEPTH: usize = 64;

/// Runs the tests once. The summary comes from the output (cargo test,
/// pytest, TAP, printed JUnit XML), else from a JUnit report the command
/// wrote, else the exit code decides without inventing a test count.
pub async fn run_tests(spec: &TestSpec) -> Result<TestRun, TestRunError> {
    check_dir(spec)?;
    let log = open_log(spec)?;
    let started = Instant::now();
    let started_at = SystemTime::now();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let sink = tokio::task::spawn_blocking(move || Sink::new(log).drain(rx));
    let ending = execute(spec, &tx).await;
    // The sink ends once every sender is gone, readers' included.
    drop(tx);
    let captured = sink
        .await
        .map_err(|e| io_error(spec, "reading its output", io::Error::other(e)))?;
    let ending = ending?;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(e) = captured.log_error {
        return Err(io_error(
            spec,
            format!("writing {}", spec.log_path.display()),
            e,
        ));
    }
    conclude(spec, ending, captured, started_at, duration_ms).await
}

fn io_error(spec: &TestSpec, context: impl Into<String>, source: io::Error) -> TestRunError {
    TestRunError::Io {
        command: spec.command.clone(),
        context: context.into(),
        source,
    }
}

fn check_dir(spec: &TestSpec) -> Result<(), TestRunError> {
    if fs::metadata(&spec.dir).is_ok_and(|meta| meta.is_dir()) {
        return Ok(());
    }
    Err(TestRunError::DirMissing {
        command: spec.command.clone(),
        dir: spec.dir.clone(),
    })
}

fn open_log(spec: &TestSpec) -> Result<File, TestRunError> {
    let path = &spec.log_path;
    let context = || format!("creating the log {}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_error(spec, context(), e))?;
    }
    File::create(path).map_err(|e| io_error(spec, context(), e))
}

async fn execute(spec: &TestSpec, tx: &mpsc::Sender<Chunk>) -> Result<Ending, TestRunError> {
    let mut child = spawn(spec)?;
    let pipes = [
        (child.stdout.take().map(OwnedFd::from), Source::Stdout),
        (child.stderr.take().map(OwnedFd::from), Source::Stderr),
    ];
    let process = Process::start(child).map_err(|e| io_error(spec, "reading its process id", e))?;
    let read_error = |e| io_error(spec, "reading its output", e);
    let readers = Readers::start(pipes, tx).map_err(read_error)?;
    let ending = process
        .wait(spec.timeout)
        .await
        .map_err(|e| io_error(spec, "waiting for it", e))?;
    if let Some(text) = ending_note(&ending, spec.timeout) {
        note(tx, &text).await;
    }
    if !readers.finish().await.map_err(read_error)? {
        let text =
            "deployflow: the output was still open after the command ended; the rest was not read";
        note(tx, text).await;
    }
    Ok(ending)
}

fn spawn(spec: &TestSpec) -> Result<Child, TestRunError> {
    let mut command = crate::adapters::child::std_command("sh");
    command
        .arg("-c")
        .arg(&spec.command)
        .current_dir(&spec.dir)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        // Last, so that no configured variable can point the tests elsewhere.
        .env("DEPLOYFLOW_TARGET_URL", &spec.target_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| io_error(spec, format!("starting `sh` in {}", spec.dir.display()), e))
}

async fn note(tx: &mpsc::Sender<Chunk>, text: &str) {
    send(tx, Source::Runner, format!("{text}\n").into_bytes()).await;
}

/// Says in the output why a run has no exit code.
fn ending_note(ending: &Ending, timeout: Duration) -> Option<String> {
    match ending {
        Ending::TimedOut => Some(format!(
            "deployflow: the tests timed out after {} s; their process group was killed",
            timeout.as_secs_f64()
        )),
        Ending::Exited(status) => status
            .signal()
            .map(|signal| format!("deployflow: the tests were killed by signal {signal}")),
    }
}

async fn conclude(
    spec: &TestSpec,
    ending: Ending,
    captured: Captured,
    started_at: SystemTime,
    duration_ms: u64,
) -> Result<TestRun, TestRunError> {
    let exit_code = match ending {
        Ending::Exited(status) => status.code(),
        Ending::TimedOut => None,
    };
    let output = captured.output;
    let printed = captured.summary.or_else(|| junit_in_text(&output));
    if printed.is_none()
        && let Some(reason) = not_runnable(exit_code, &output)
    {
        return Err(TestRunError::NotRunnable {
            command: spec.command.clone(),
            reason,
        });
    }
    let summary = match printed {
        Some(summary) => Some(summary),
        None => left_report(spec, started_at).await,
    };
    Ok(test_run(summary, exit_code, output, duration_ms))
}

/// A JUnit report the command wrote, found off the runtime (it walks the
/// code directory).
async fn left_report(spec: &TestSpec, started_at: SystemTime) -> Option<Summary> {
    let dir = spec.dir.clone();
    tokio::task::spawn_blocking(move || find_junit_report(&dir, started_at))
        .await
        .ok()
        .flatten()
}

/// `sh` exits 127 when it cannot find the command and 126 when it cannot
/// execute it; its message says which. The same codes from a test run
/// that printed a summary are that run's business.
fn not_runnable(exit_code: Option<i32>, output: &str) -> Option<String> {
    let signs: &[&str] = match exit_code {
        Some(127) => &["not found"],
        Some(126) => &["permission denied", "cannot execute", "is a directory"],
        _ => return None,
    };
    output
        .lines()
        .rev()
        .find(|line| {
            let line = line.to_ascii_lowercase();
            signs.iter().any(|sign| line.contains(sign))
        })
        .map(|line| line.trim().to_string())
}

/// Without a summary the exit code decides, and no test count is made up:
/// a failing command counts as one failure, a passing one as nothing.
fn test_run(
    summary: Option<Summary>,
    exit_code: Option<i32>,
    output: String,
    duration_ms: u64,
) -> TestRun {
    let (passed, failed, skipped, format) = match summary {
        Some(s) => (s.passed, s.failed, s.skipped, Some(s.format.to_string())),
        None => (0, u32::from(exit_code != Some(0)), 0, None),
    };
    TestRun {
        passed,
        failed,
        skipped,
        duration_ms,
        exit_code,
        output,
        format,
    }
}

#[cfg(test)]
mod tests;
