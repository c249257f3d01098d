//! Reading deployflow.toml: every error names the key, the line and the
//! column, so the user can go straight to it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::schema::{BackendKind, Config, MemberKind};

/// The members deployflow has built in; any other name needs a `[members.X]`.
pub const BUILT_IN_MEMBERS: [&str; 4] = ["tests", "requirements", "hygiene", "synthesis"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        /// The dotted key the error is about (`review.quorum`), or
        /// `(document)` for a syntax error outside any key.
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks `text`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let located = |key: String, span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
            ConfigError::Invalid {
                path: path.to_owned(),
                key,
                line,
                column,
                message,
            }
        };
        let document = toml::Deserializer::parse(text)
            .map_err(|e| located("(document)".into(), e.span(), first_line(e.message())))?;
        let config: Config = serde_path_to_error::deserialize(document).map_err(|e| {
            // A `Spanned` table shows in the path as toml's private field
            // name: the user's key has no such part.
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "")
                .replace("$__serde_spanned_private_value.", "");
            let inner = e.into_inner();
            let key = if key == "." { "(document)".into() } else { key };
            located(key, inner.span(), first_line(inner.message()))
        })?;
        config
            .check()
            .map_err(|(key, span, message)| located(key, span, message))?;
        Ok(config)
    }

    /// Checks that need more than one value.
    fn check(&self) -> Result<(), (String, Option<Range<usize>>, String)> {
        let runtime = self.runtime.get_ref();
        let runtime_span = spanned_at(&self.runtime);
        match runtime.backend {
            BackendKind::Process if runtime.command.is_none() => {
                return Err((
                    "runtime.command".into(),
                    runtime_span,
                    "the process backend needs the command that starts the app".into(),
                ));
            }
            BackendKind::Docker if runtime.image.is_none() && runtime.build.is_none() => {
                return Err((
                    "runtime.image".into(),
                    runtime_span,
                    "the docker backend needs `image` or `build`".into(),
                ));
            }
            BackendKind::Docker if runtime.build_command.is_some() => {
                return Err((
                    "runtime.build_command".into(),
                    runtime_span,
                    "the docker backend builds with `build` (a Dockerfile), not a command".into(),
                ));
            }
            _ => {}
        }
        for (i, secret) in runtime.secrets.iter().enumerate() {
            if runtime.env.contains_key(secret.get_ref().as_str()) {
                return Err((
                    format!("runtime.secrets[{i}]"),
                    spanned_at(secret),
                    format!(
                        "`{}` is both in env and in secrets: a secret's value must not be in the file",
                        secret.get_ref().as_str()
                    ),
                ));
            }
        }
        for (i, volume) in runtime.volumes.iter().enumerate() {
            let problem = if runtime.backend != BackendKind::Docker {
                Some("volumes are the docker backend's".to_string())
            } else {
                volume_problem(volume)
            };
            if let Some(problem) = problem {
                return Err((
                    format!("runtime.volumes[{i}]"),
                    runtime_span.clone(),
                    problem,
                ));
            }
        }
        super::analysis::check(&self.analysis, &self.rollout)?;
        for (i, notify) in self.notify.iter().enumerate() {
            if let Some(problem) = super::analysis::notify_problem(notify) {
                return Err((format!("notify[{i}].url"), None, problem));
            }
        }
        if let Some(problem) = self.completion_problem() {
            return Err((problem.0.into(), None, problem.1));
        }
        if self.review.trio.is_empty() {
            return Err((
                "review.trio".into(),
                None,
                "the review needs at least one Trio member".into(),
            ));
        }
        let seats = self
            .review
            .trio
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("review.trio[{i}]"), m))
            .chain(std::iter::once((
                "review.senior".to_string(),
                &self.review.senior,
            )))
            .chain(
                self.review
                    .juniors
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (format!("review.juniors[{i}]"), m)),
            );
        for (key, member) in seats {
            let name = member.get_ref();
            if !BUILT_IN_MEMBERS.contains(&name.as_str()) && !self.members.contains_key(name) {
                return Err((
                    key,
                    spanned_at(member),
                    format!(
                        "no member `{name}`: use a built-in one ({}) or define [members.{name}]",
                        BUILT_IN_MEMBERS.join(", ")
                    ),
                ));
            }
        }
        for (name, member) in &self.members {
            let span = spanned_at(member);
            let member = member.get_ref();
            let missing = match member.kind {
                MemberKind::Command if member.command.is_none() => Some("command"),
                MemberKind::Openai | MemberKind::Anthropic if member.model.is_none() => {
                    Some("model")
                }
                _ => None,
            };
            if let Some(field) = missing {
                return Err((
                    format!("members.{name}.{field}"),
                    span,
                    format!("a `{:?}` member needs `{field}`", member.kind).to_lowercase(),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// `[completion]` and `[forge]` values git or the forge would refuse
    /// only at the end of a deployment: refused now, with the key.
    fn completion_problem(&self) -> Option<(&'static str, String)> {
        if crate::adapters::git::Author::parse(&self.completion.author).is_none() {
            return Some((
                "completion.author",
                format!("`{}` is not git's `Name <email>`", self.completion.author),
            ));
        }
        if self.completion.push && !self.completion.commit {
            return Some((
                "completion.push",
                "pushing needs `commit = true`: there is nothing else to push".into(),
            ));
        }
        let forge = self.forge.as_ref()?;
        let mut parts = forge.repo.split('/');
        let well_formed = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(owner), Some(name), None) if !owner.is_empty() && !name.is_empty()
        );
        if !well_formed {
            return Some((
                "forge.repo",
                format!("`{}` is not `owner/name`", forge.repo),
            ));
        }
        if let Some(url) = &forge.api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Some((
                "forge.api_url",
                format!("`{url}` is not an http or https URL"),
            ));
        }
        None
    }
}

/// The span of a value that came from the file; defaults have none.
fn spanned_at<T>(value: &Spanned<T>) -> Option<Range<usize>> {
    let span = value.span();
    (span.end > 0).then_some(span)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// toml's messages can span lines; the first says what is wrong.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// Why a `host:container[:ro|rw]` volume is not one, if it is not.
fn volume_problem(volume: &str) -> Option<String> {
    let parts: Vec<&str> = volume.split(':').collect();
    let mode_ok = match parts.get(2) {
        None => true,
        Some(mode) => matches!(*mode, "ro" | "rw"),
    };
    let shaped = (2..=3).contains(&parts.len())
        && !parts[0].is_empty()
        && parts[1].starts_with('/')
        && mode_ok;
    (!shaped).then(|| format!("`{volume}` is not `host:/container` or `host:/container:ro`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[app]
name = "hello"

[inputs]
requirements = "REQUIREMENTS.md"
tests = "./smoke-test.sh"

[runtime]
command = "./hello"
"#;

    fn error(text: &str) -> (String, usize, usize, String) {
        match Config::parse(text, Path::new("deployflow.toml")) {
            Err(ConfigError::Invalid {
                key,
                line,
                column,
                message,
                ..
            }) => (key, line, column, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_file_takes_the_documented_defaults() {
        let config = Config::parse(MINIMAL, Path::new("deployflow.toml")).unwrap();
        assert_eq!(config.app.name.as_str(), "hello");
        assert_eq!(config.inputs.code, ".");
        assert_eq!(config.health.path.as_str(), "/health");
        assert_eq!(config.fix.driver_attempts.0, 3);
        assert_eq!(config.review.max_rounds.0, 6);
        assert_eq!(config.runtime.get_ref().retain.0, 3);
        assert_eq!(config.router.listen.0.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn a_bad_value_names_its_key_line_and_column() {
        let text = format!("{MINIMAL}\n[review]\nquorum = \"3/4\"\n");
        let (key, line, column, message) = error(&text);
        assert_eq!(key, "review.quorum");
        assert_eq!((line, column), (13, 10));
        assert!(message.contains("3/4"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_an_error_not_a_default() {
        let text = format!("{MINIMAL}\n[health]\ndeadline = 5\n");
        let (key, line, _, message) = error(&text);
        assert_eq!(key, "health.deadline");
        assert_eq!(line, 13);
        assert!(message.contains("deadline"), "{message}");
        // In a table kept with its place in the file, the key reads as
        // written too.
        let text = MINIMAL.replace("command = \"./hello\"", "command = \"./hello\"\nretian = 3");
        let (key, line, _, _) = error(&text);
        assert_eq!(key, "runtime.retian");
        assert_eq!(line, 11);
        let text = MINIMAL.replace(
            "command = \"./hello\"",
            "command = \"./hello\"\nstop_timeout_s = 1e12",
        );
        assert_eq!(error(&text).0, "runtime.stop_timeout_s");
    }

    #[test]
    fn a_syntax_error_is_located() {
        let (key, line, column, _) = error("[app]\nname = \n");
        assert_eq!(key, "(document)");
        assert_eq!((line, column), (2, 8));
    }

    #[test]
    fn an_unknown_member_is_named() {
        let text = format!("{MINIMAL}\n[review]\ntrio = [\"tests\", \"gpt\"]\n");
        let (key, line, column, message) = error(&text);
        assert_eq!(key, "review.trio[1]");
        assert_eq!((line, column), (13, 18));
        assert!(message.contains("[members.gpt]"), "{message}");
    }

    #[test]
    fn a_process_backend_needs_a_command() {
        let text = MINIMAL.replace("command = \"./hello\"", "");
        let (key, _, _, _) = error(&text);
        assert_eq!(key, "runtime.command");
    }

    #[test]
    fn zero_rounds_is_refused() {
        let text = format!("{MINIMAL}\n[review]\nmax_rounds = 0\n");
        let (key, _, _, message) = error(&text);
        assert_eq!(key, "review.max_rounds");
        assert!(message.contains("from 1 to 100"), "{message}");
    }

    /// Every number a config gives has a range: a timeout that would
    /// overflow a timer, or a negative count, is refused at load, naming
    /// its key and its range.
    #[test]
    fn every_number_out_of_its_range_is_refused_at_load() {
        let member = "[review]\ntrio = [\"tests\", \"gpt\"]\n\n[members.gpt]\nkind = \"openai\"\nmodel = \"m\"\n";
        let cases = [
            (
                "[members.gpt]",
                "timeout_s",
                i64::MAX.to_string(),
                "members.gpt.timeout_s",
            ),
            (
                "[members.gpt]",
                "timeout_s",
                "0".into(),
                "members.gpt.timeout_s",
            ),
            (
                "[members.gpt]",
                "retries",
                "11".into(),
                "members.gpt.retries",
            ),
            (
                "[members.gpt]",
                "max_tokens",
                "-1".into(),
                "members.gpt.max_tokens",
            ),
            (
                "[members.gpt]",
                "budget_tokens",
                "100000000".into(),
                "members.gpt.budget_tokens",
            ),
            (
                "[health]",
                "deadline_s",
                "86401".into(),
                "health.deadline_s",
            ),
            ("[health]", "interval_ms", "0".into(), "health.interval_ms"),
            (
                "[router]",
                "drain_timeout_s",
                "-5".into(),
                "router.drain_timeout_s",
            ),
            (
                "[fix]",
                "driver_attempts",
                "1000".into(),
                "fix.driver_attempts",
            ),
        ];
        for (table, key, value, path) in cases {
            let text = format!("{MINIMAL}\n{member}");
            let text = if text.contains(&format!("{table}\n")) {
                text.replacen(
                    &format!("{table}\n"),
                    &format!("{table}\n{key} = {value}\n"),
                    1,
                )
            } else {
                format!("{text}\n{table}\n{key} = {value}\n")
            };
            let (found, _, _, message) = error(&text);
            assert_eq!(found, path, "{key} = {value}: {message}");
            assert!(
                message.contains("must be from"),
                "{key} = {value}: {message}"
            );
        }
        let runtime = MINIMAL.replace(
            "command = \"./hello\"",
            "command = \"./hello\"\nstop_timeout_s = 3601",
        );
        assert_eq!(error(&runtime).0, "runtime.stop_timeout_s");
    }

    #[test]
    fn router_addresses_need_a_port_and_the_admin_loopback() {
        for (line, key, says) in [
            ("listen = \"127.0.0.1:0\"", "router.listen", "port 0"),
            ("admin = \"0.0.0.0:7071\"", "router.admin", "loopback"),
            ("admin = \"127.0.0.1:0\"", "router.admin", "port 0"),
            ("listen = \"localhost\"", "router.listen", "IP:PORT"),
        ] {
            let (found, line_no, _, message) = error(&format!("{MINIMAL}\n[router]\n{line}\n"));
            assert_eq!(found, key, "{line}: {message}");
            assert_eq!(line_no, 13, "{line}: {message}");
            assert!(message.contains(says), "{line}: {message}");
        }
    }

    #[test]
    fn release_labels_are_short_printable_and_without_slashes() {
        for good in ["v1", "2026.12.02-rc1", "abc1234", &"x".repeat(128)] {
            assert_eq!(crate::config::release_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "v1\0",
            "v1\nv2",
            "\u{1b}[31mred",
            "a/b",
            &"x".repeat(129),
        ] {
            assert!(crate::config::release_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn volumes_are_the_docker_backends_and_must_be_shaped() {
        let process = MINIMAL.replace(
            "command = \"./hello\"",
            "command = \"./hello\"\nvolumes = [\"state:/state\"]",
        );
        let (key, _, _, message) = error(&process);
        assert_eq!(key, "runtime.volumes[0]");
        assert!(message.contains("docker"), "{message}");
        assert_eq!(volume_problem("state:/state"), None);
        assert_eq!(volume_problem("/srv/data:/data:ro"), None);
        for bad in ["state", "state:relative", ":/x", "a:/b:rx", "a:/b:ro:x"] {
            assert!(volume_problem(bad).is_some(), "{bad}");
        }
    }
}
