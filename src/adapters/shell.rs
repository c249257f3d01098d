//! Running a shell command the way deployflow runs agents and builds:
//! `sh -c` in a given directory, in its own process group, input on stdin,
//! output captured (capped), and the whole group killed when it outlives
//! its timeout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Output past this much is dropped: an agent's verdict or a build's
/// diagnosis is in far less.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Lines of stderr quoted when a command fails.
pub const STDERR_LINES: usize = 20;

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` in `dir`, in its own process group, with `input` on
/// stdin and `env` added to its environment; the whole group is killed
/// when it outlives `timeout`.
pub async fn run(
    command: &str,
    dir: &std::path::Path,
    input: &[u8],
    timeout: Duration,
    env: &[(&str, &str)],
) -> Result<Output, String> {
    let mut command_line = crate::adapters::child::command("sh");
    let mut child = command_line
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(env.iter().copied())
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    let group = child.id().map(|pid| nix::unistd::Pid::from_raw(pid as i32));
    // Abandoned (the step was cancelled), the whole group goes, not only
    // `sh`: an agent's or a build's children with it.
    let mut abandoned = KillOnDrop(group);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("the command's pipes could not be opened".into());
    };
    let input = input.to_vec();
    let feeding = async move {
        // A command that reads nothing closes its end: not an error here.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
    };
    let finished = tokio::time::timeout(timeout, async {
        let (_, out, err, status) = tokio::join!(
            feeding,
            read_capped(stdout),
            read_capped(stderr),
            child.wait()
        );
        (out, err, status)
    })
    .await;
    match finished {
        Ok((stdout, stderr, status)) => {
            // Ended and reaped: its id may be anyone's now.
            abandoned.0 = None;
            let status = status.map_err(|e| format!("waiting for the command: {e}"))?;
            Ok(Output {
                code: status.code(),
                stdout,
                stderr,
            })
        }
        Err(_) => {
            if let Some(group) = group {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
            Err(format!("no answer within {} s", timeout.as_secs()))
        }
    }
}

/// Kills a process group when dropped while it is still armed: until its
/// leader is reaped, the group's id cannot be anyone else's.
struct KillOnDrop(Option<nix::unistd::Pid>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

async fn read_capped(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    let mut cut = false;
    let mut chunk = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = MAX_OUTPUT - bytes.len();
        cut |= n > room;
        bytes.extend_from_slice(&chunk[..n.min(room)]);
    }
    // Marked, for the redactor: the cut may have split a secret.
    crate::adapters::secrets::text_of_cut(&bytes, false, cut)
}

pub fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
