//! The test command's process: a group of its own, so that a timeout ends
//! everything the command started, and a waiter that never leaves a
//! zombie or a straggler behind.

use std::io;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use tokio::task::JoinHandle;

/// How long a timed-out command gets between SIGTERM (time to stop what
/// it started, containers say) and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How the command ended.
#[derive(Debug)]
pub(super) enum Ending {
    Exited(ExitStatus),
    TimedOut,
}

/// A running command: its group and the thread waiting for it. Dropped
/// before it ended (the run abandoned), it kills the group.
pub(super) struct Process {
    group: Group,
    waiter: JoinHandle<io::Result<ExitStatus>>,
}

impl Process {
    /// Takes a child spawned with `process_group(0)`.
    pub fn start(child: Child) -> io::Result<Process> {
        let group = Group::of(&child)?;
        let (pid, reaped) = (group.pgid, Arc::clone(&group.reaped));
        let waiter = tokio::task::spawn_blocking(move || wait_child(child, pid, &reaped));
        Ok(Process { group, waiter })
    }

    /// Waits up to `limit`, then ends the group: SIGTERM, and SIGKILL
    /// after `KILL_GRACE`.
    pub async fn wait(mut self, limit: Duration) -> io::Result<Ending> {
        if let Ok(result) = tokio::time::timeout(limit, &mut self.waiter).await {
            return result.map_err(io::Error::other)?.map(Ending::Exited);
        }
        self.group.signal(Signal::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, &mut self.waiter)
            .await
            .is_err()
        {
            self.group.signal(Signal::SIGKILL);
            (&mut self.waiter).await.map_err(io::Error::other)??;
        }
        Ok(Ending::TimedOut)
    }
}

/// The command's process group, signalled only while its leader is not
/// yet reaped: until then the group id cannot belong to anyone else.
/// Dropping it (the run abandoned) kills the group.
struct Group {
    pgid: Pid,
    reaped: Arc<Mutex<bool>>,
}

impl Group {
    fn of(child: &Child) -> io::Result<Group> {
        let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
        Ok(Group {
            pgid: Pid::from_raw(pid),
            reaped: Arc::new(Mutex::new(false)),
        })
    }

    fn signal(&self, signal: Signal) {
        let reaped = self.reaped.lock().unwrap_or_else(PoisonError::into_inner);
        if !*reaped {
            // ESRCH (everyone gone already) is the one failure possible.
            let _ = killpg(self.pgid, signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Blocking: waits for the shell, then kills what it left behind in its
/// group (which would hold the pipes open and keep calling green after the
/// phase), and only then reaps it, so the group id is still its own.
fn wait_child(mut child: Child, pid: Pid, reaped: &Mutex<bool>) -> io::Result<ExitStatus> {
    let exited = wait_exited(pid);
    if exited.is_ok() {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let mut reaped = reaped.lock().unwrap_or_else(PoisonError::into_inner);
    // After a failed wait (ECHILD: reaped elsewhere) the id may already be
    // someone else's: it must not be signalled again either.
    let status = exited.and_then(|()| child.wait());
    *reaped = true;
    status
}

fn wait_exited(pid: Pid) -> io::Result<()> {
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
