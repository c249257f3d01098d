//! Files deployflow keeps are its user's alone. The data directory holds
//! the raw test logs and the instances' logs, where an app may print its
//! secrets in full, and the event log; another account on the machine must
//! read none of it. Rather than a mode on each of the many places that
//! create a file there (sled creates its own), the process's umask makes
//! every new file 0600 and folder 0700, and `tighten` mends what an older
//! version left behind. Children get the user's own umask back
//! (`child.rs`), and files made for the user elsewhere (the report in the
//! code directory) get the mode the user's umask gives (`as_user_would`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::stat::{Mode, umask};

/// The umask deployflow was started with (0o022 until `restrict` runs).
static USER_UMASK: AtomicU32 = AtomicU32::new(0o022);
/// Whether `restrict` ran: a second call must not record 0o077 as the
/// user's.
static RESTRICTED: std::sync::Once = std::sync::Once::new();

/// From here on, this process creates files for its owner only. Called at
/// the start of every command that writes under a data directory.
pub fn restrict() {
    RESTRICTED.call_once(|| {
        let before = umask(Mode::from_bits_truncate(0o077));
        USER_UMASK.store(before.bits(), Ordering::Relaxed);
    });
}

/// The umask a child process runs with: the user's, not deployflow's own.
pub fn user_umask() -> Mode {
    Mode::from_bits_truncate(USER_UMASK.load(Ordering::Relaxed))
}

/// Takes group and other permissions off every file and folder under
/// `dir` (and `dir` itself); what cannot be changed is returned, named.
pub fn tighten(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    tighten_one(dir, &mut problems);
    problems
}

fn tighten_one(path: &Path, problems: &mut Vec<String>) {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    // A link is not followed: what it points to is not ours to change.
    if metadata.file_type().is_symlink() {
        return;
    }
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0
        && let Err(e) = std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(mode & !0o077 & 0o7777),
        )
    {
        problems.push(format!("{}: {e}", path.display()));
    }
    if metadata.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    tighten_one(&entry.path(), problems);
                }
            }
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
}

/// Gives `path` the mode a file (or folder) the user made would have: for
/// what deployflow writes into the user's own tree, such as the report.
pub fn as_user_would(path: &Path) -> std::io::Result<()> {
    let base = if path.is_dir() { 0o777 } else { 0o666 };
    let mode = base & !user_umask().bits();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tighten_takes_group_and_other_bits_off_everything_but_links() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("deployments");
        std::fs::create_dir(&sub).unwrap();
        let log = sub.join("tests-0.log");
        std::fs::write(&log, "secret").unwrap();
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh").unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        for (path, mode) in [(&sub, 0o755), (&log, 0o644), (&script, 0o775)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        assert!(tighten(dir.path()).is_empty());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(&script), 0o700);
        assert_eq!(mode(outside.path()), 0o644, "a link's target is left alone");
    }
}
