//! Phase 1's checks: every input the deployment needs is present and usable.
//! Each problem is named on its own, so the user fixes them all at once.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::secrets::Secrets;
use crate::config::{BackendKind, Config};
use crate::events::MissingInput;

/// What the checks found: the inputs that passed and those that did not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputCheck {
    pub checked: Vec<String>,
    pub missing: Vec<MissingInput>,
}

impl InputCheck {
    fn ok(&mut self, what: String) {
        self.checked.push(what);
    }

    fn bad(&mut self, item: &str, reason: String) {
        self.missing.push(MissingInput {
            item: item.into(),
            reason,
        });
    }
}

/// Where the files of a config live, resolved against its directory.
#[derive(Debug, Clone)]
pub struct Paths {
    pub code: PathBuf,
    pub requirements: PathBuf,
    pub secrets_file: PathBuf,
}

impl Paths {
    pub fn of(config: &Config, base: &Path) -> Paths {
        let code = Config::resolve(base, &config.inputs.code);
        Paths {
            requirements: Config::resolve(base, &config.inputs.requirements),
            secrets_file: config
                .runtime
                .get_ref()
                .secrets_file
                .as_deref()
                .map(|f| Config::resolve(base, f))
                .unwrap_or_else(|| base.join(".deployflow").join("secrets")),
            code,
        }
    }
}

pub fn check(config: &Config, base: &Path) -> InputCheck {
    let paths = Paths::of(config, base);
    let mut result = InputCheck::default();
    let code_ok = paths.code.is_dir();
    if code_ok {
        result.ok(format!("code: {}", paths.code.display()));
    } else {
        result.bad(
            "code",
            format!("the code directory {} does not exist", paths.code.display()),
        );
    }
    match std::fs::read_to_string(&paths.requirements) {
        Ok(text) if text.trim().is_empty() => result.bad(
            "requirements",
            format!("{} is empty", paths.requirements.display()),
        ),
        Ok(_) => result.ok(format!("requirements: {}", paths.requirements.display())),
        Err(e) => result.bad(
            "requirements",
            format!("cannot read {}: {e}", paths.requirements.display()),
        ),
    }
    let dir = if code_ok { &paths.code } else { base };
    match runnable(&config.inputs.tests, dir) {
        Ok(found) => result.ok(format!("tests: {} ({found})", config.inputs.tests)),
        Err(reason) => result.bad("tests", reason),
    }
    let runtime = config.runtime.get_ref();
    // Checked now, not at the end: a token that is missing would leave the
    // promotion's issues open.
    if let Some(forge) = &config.forge {
        let token = [forge.token_env.clone()];
        match crate::adapters::secrets::Secrets::resolve(&token, &paths.secrets_file) {
            Ok(_) => result.ok(format!(
                "forge: {} (token in {})",
                forge.repo,
                forge.token_env.as_str()
            )),
            Err(e) => result.bad("forge.token_env", e.to_string()),
        }
    }
    if runtime.backend == BackendKind::Process {
        let command = runtime.command.as_deref().unwrap_or_default();
        match runnable(command, dir) {
            Ok(found) => result.ok(format!("runtime.command: {command} ({found})")),
            Err(reason) => result.bad("runtime.command", reason),
        }
    }
    if let (BackendKind::Docker, Some(build)) = (runtime.backend, &runtime.build) {
        let context = base.join(&build.context);
        let dockerfile = context.join(build.dockerfile.as_deref().unwrap_or("Dockerfile"));
        if !context.is_dir() {
            result.bad(
                "runtime.build.context",
                format!("the build context {} is not a directory", context.display()),
            );
        } else if !dockerfile.is_file() {
            result.bad(
                "runtime.build.dockerfile",
                format!("{} does not exist", dockerfile.display()),
            );
        } else {
            result.ok(format!("build: {}", dockerfile.display()));
        }
    }
    match Secrets::resolve(&names(config), &paths.secrets_file) {
        Ok(_) if runtime.secrets.is_empty() => {}
        Ok(_) => result.ok(format!("secrets: {} present", runtime.secrets.len())),
        Err(e) => result.bad("secrets", e.to_string()),
    }
    result
}

pub fn names(config: &Config) -> Vec<crate::config::SecretName> {
    config
        .runtime
        .get_ref()
        .secrets
        .iter()
        .map(|s| s.get_ref().clone())
        .collect()
}

/// Every secret whose value must be scrubbed: the instance's, and the
/// forge's token (which no instance is given).
pub fn redacted_names(config: &Config) -> Vec<crate::config::SecretName> {
    let mut all = names(config);
    all.extend(config.forge.as_ref().map(|f| f.token_env.clone()));
    all
}

/// Whether the program a shell command starts with can run: a path (taken
/// relative to `dir`) must be an executable file; a bare name must be on PATH.
/// Commands that start with shell syntax are left to the shell.
pub fn runnable(command: &str, dir: &Path) -> Result<String, String> {
    let words = shell_words::split(command)
        .map_err(|e| format!("`{command}` is not a valid shell command: {e}"))?;
    let Some(program) = words.first().map(String::as_str) else {
        return Err("the command is empty".into());
    };
    if program.contains('=') || program.starts_with(['(', '{', '$']) {
        return Ok("shell syntax, left to sh".into());
    }
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = dir.join(program);
        return if executable(&path) {
            Ok(path.display().to_string())
        } else if path.exists() {
            Err(format!(
                "`{program}` is not executable (in {})",
                dir.display()
            ))
        } else {
            Err(format!("`{program}` does not exist (in {})", dir.display()))
        };
    }
    if is_shell_builtin(program) {
        return Ok("shell built-in".into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
        .map(|p| p.display().to_string())
        .ok_or_else(|| format!("`{program}` is not on PATH"))
}

fn is_shell_builtin(program: &str) -> bool {
    matches!(
        program,
        "exec" | "cd" | "true" | "false" | "echo" | "exit" | "test" | "[" | "." | "set" | "env"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_found_by_path_or_on_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(runnable("sh -c true", dir.path()).is_ok());
        assert!(
            runnable("surely-no-such-program-42 x", dir.path())
                .unwrap_err()
                .contains("not on PATH")
        );
        assert!(
            runnable("./smoke.sh", dir.path())
                .unwrap_err()
                .contains("does not exist")
        );
        std::fs::write(dir.path().join("smoke.sh"), "#!/bin/sh\n").unwrap();
        assert!(
            runnable("./smoke.sh", dir.path())
                .unwrap_err()
                .contains("not executable")
        );
        std::fs::set_permissions(
            dir.path().join("smoke.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert!(runnable("./smoke.sh --fast", dir.path()).is_ok());
        let quoted = format!("'{}' --fast", dir.path().join("smoke.sh").display());
        assert!(runnable(&quoted, dir.path()).is_ok());
    }
}
