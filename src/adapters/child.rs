//! Every process deployflow starts is made here, and only here (clippy's
//! `disallowed-methods` refuses `Command::new` anywhere else, see
//! clippy.toml). A child inherits the control plane's environment minus the
//! names withheld from every child: deployflow's own API token and the
//! forge's token are deployflow's, not the app's, its tests', a build's,
//! git's hooks' or an agent's (which could hand them to its model). A child
//! that is given one explicitly (`runtime.secrets`) still gets it. A child
//! also gets the user's umask back: deployflow's own is owner-only
//! (`owner_only.rs`), an app's files are the app's business.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::sync::RwLock;

/// The control plane's API token (`server::auth::TOKEN_ENV`): a child that
/// had it could approve its own deployment.
const ALWAYS_WITHHELD: [&str; 1] = [crate::server::auth::TOKEN_ENV];

/// Names added at run time: the forge's token variable, as deployments'
/// configs name it.
static WITHHELD: RwLock<BTreeSet<String>> = RwLock::new(BTreeSet::new());

/// Withholds `name` from every child started from now on.
pub fn withhold(name: &str) {
    if let Ok(mut withheld) = WITHHELD.write() {
        withheld.insert(name.to_string());
    }
}

/// Every name no child inherits.
pub fn withheld() -> Vec<String> {
    let mut names: BTreeSet<String> = ALWAYS_WITHHELD.iter().map(|n| n.to_string()).collect();
    if let Ok(added) = WITHHELD.read() {
        names.extend(added.iter().cloned());
    }
    names.into_iter().collect()
}

/// A child process (tokio's), its environment without the withheld names.
pub fn command(program: impl AsRef<OsStr>) -> tokio::process::Command {
    #[allow(clippy::disallowed_methods)] // the one place
    let mut command = tokio::process::Command::new(program);
    for name in withheld() {
        command.env_remove(name);
    }
    with_user_umask(command.as_std_mut());
    command
}

/// `command` as a blocking `std::process::Command`.
pub fn std_command(program: impl AsRef<OsStr>) -> std::process::Command {
    // `into_std` keeps the environment changes and the pre-exec hook.
    command(program).into_std()
}

/// deployflow's own control plane, started by its command line on the
/// user's behalf (or the router run again by `exec`): it is deployflow
/// itself, so it keeps the whole environment the user gave the command
/// (the token it must require, the secrets instances get). It gets the
/// user's umask too, so it records the user's, not this command's
/// owner-only one, as what its own children get.
pub fn control_plane(exe: impl AsRef<OsStr>) -> std::process::Command {
    #[allow(clippy::disallowed_methods)] // deployflow itself, see above
    let mut command = std::process::Command::new(exe);
    with_user_umask(&mut command);
    command
}

/// The child runs with the user's umask, not deployflow's owner-only one.
fn with_user_umask(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let mask = super::owner_only::user_umask();
    // SAFETY: between fork and exec only async-signal-safe calls are
    // allowed; umask(2) is one, and the closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::stat::umask(mask);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_never_inherits_a_withheld_name_unless_given_it() {
        withhold("DF_CHILD_TEST_FORGE_TOKEN");
        // SAFETY: the test's own variables, read only by the children below.
        unsafe {
            std::env::set_var("DF_CHILD_TEST_FORGE_TOKEN", "forge-secret");
            std::env::set_var("DF_CHILD_TEST_PLAIN", "plain");
        }
        let out = std_command("sh")
            .args([
                "-c",
                "echo \"$DF_CHILD_TEST_FORGE_TOKEN|$DF_CHILD_TEST_PLAIN|$DEPLOYFLOW_TOKEN\"",
            ])
            .env("DEPLOYFLOW_TOKEN", "given")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "|plain|given");
        let out = std_command("sh")
            .args(["-c", "echo \"${DEPLOYFLOW_TOKEN-unset}\""])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unset");
    }
}
