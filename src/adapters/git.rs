//! The code directory's git repository, through the `git` program as its
//! user would run it: committing the deployment report (and pushing it),
//! and reading the commit messages since the last promotion. Nothing here
//! touches a change of the user's: only the report's path is staged and
//! committed, and a detached HEAD is left as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::events::payloads::ReportCommitted;

/// How long one git command may take; a push to an unreachable remote must
/// not hold the deployment's completion.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Paths of the user's own changes listed in a note, at most.
const LISTED_CHANGES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git could not be run: {0}")]
    Spawn(std::io::Error),
    #[error("`git {args}` took longer than {seconds} s")]
    Timeout { args: String, seconds: u64 },
    #[error("`git {args}` failed: {message}")]
    Failed { args: String, message: String },
}

/// Who commits the report: `completion.author`, as git's `Name <email>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// Reads `Name <email>`; `None` when it is not that shape.
    pub fn parse(text: &str) -> Option<Author> {
        let (name, rest) = text.trim().split_once('<')?;
        let email = rest.strip_suffix('>')?.trim();
        let name = name.trim();
        (!name.is_empty() && !email.is_empty() && !email.contains(['<', '>'])).then(|| Author {
            name: name.to_string(),
            email: email.to_string(),
        })
    }
}

/// A repository the code directory is in.
pub struct Repo {
    /// The code directory: git runs there.
    dir: PathBuf,
}

impl Repo {
    /// The repository `dir` is in, or `None` when it is in none.
    pub async fn open(dir: &Path) -> Result<Option<Repo>, GitError> {
        let repo = Repo {
            dir: dir.to_path_buf(),
        };
        match repo.git(&["rev-parse", "--show-toplevel"]).await {
            Ok(_) => Ok(Some(repo)),
            // Anything else (ownership, permissions, a damaged repository)
            // is git's own message, not "no repository".
            Err(GitError::Failed { message, .. }) if message.contains("not a git repository") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Commits the report at `path` on the current branch, with `author`
    /// as author and committer, and pushes the branch when `push`. Run again
    /// after a crash it finds the report already committed and says so.
    pub async fn commit_report(
        &self,
        path: &Path,
        author: &Author,
        message: &str,
        push: bool,
    ) -> ReportCommitted {
        let mut result = ReportCommitted::default();
        let Ok(branch) = self
            .git(&["symbolic-ref", "--quiet", "--short", "HEAD"])
            .await
        else {
            let at = self.git(&["rev-parse", "--short", "HEAD"]).await;
            result.notes.push(format!(
                "not committed: HEAD is detached{}; check out a branch, or commit the report yourself",
                at.map(|c| format!(" at {c}")).unwrap_or_default()
            ));
            return result;
        };
        result.branch = Some(branch.clone());
        let path = path.to_string_lossy().into_owned();
        let others = self.changes_besides(&path).await;
        if !others.is_empty() {
            result.notes.push(format!(
                "left uncommitted, as they are: {}",
                listed(&others)
            ));
        }
        match self.commit_path(&path, author, message).await {
            Ok(commit) => result.commit = Some(commit),
            Err(e) => {
                result.notes.push(format!("not committed: {e}"));
                return result;
            }
        }
        if push {
            match self.push(&branch).await {
                Ok(()) => result.pushed = true,
                Err(e) => result.notes.push(format!("not pushed: {e}")),
            }
        }
        result
    }

    /// The commit that holds `path` as it is now: a new one, or the one
    /// that already did (a resumed completion commits nothing twice).
    async fn commit_path(
        &self,
        path: &str,
        author: &Author,
        message: &str,
    ) -> Result<String, GitError> {
        let tracked = self
            .git(&["ls-files", "--error-unmatch", "--", path])
            .await
            .is_ok();
        let unchanged = tracked
            && self
                .git(&["diff", "--quiet", "HEAD", "--", path])
                .await
                .is_ok();
        if unchanged {
            return self.git(&["log", "-1", "--format=%H", "--", path]).await;
        }
        self.git(&["add", "--", path]).await?;
        let identity = format!("{} <{}>", author.name, author.email);
        // The user's hooks and signing are for their commits: a hook that
        // stashes the tree or a passphrase prompt has no place here.
        self.git_as(
            author,
            &[
                "-c",
                "commit.gpgsign=false",
                "commit",
                "--no-verify",
                "--quiet",
                "--only",
                "--author",
                &identity,
                "-m",
                message,
                "--",
                path,
            ],
        )
        .await?;
        self.git(&["rev-parse", "HEAD"]).await
    }

    /// Pushes `branch` where `git push` would: its push remote or its
    /// upstream's remote (`origin` when it has neither), to its upstream
    /// branch when it pushes to the upstream's remote, else to its own name.
    async fn push(&self, branch: &str) -> Result<(), GitError> {
        let config = |key: String| async move { self.git(&["config", "--get", &key]).await.ok() };
        let upstream_remote = config(format!("branch.{branch}.remote")).await;
        let remote = match config(format!("branch.{branch}.pushRemote")).await {
            Some(remote) => remote,
            None => match config("remote.pushDefault".into()).await {
                Some(remote) => remote,
                None => upstream_remote.clone().unwrap_or_else(|| "origin".into()),
            },
        };
        let merge = config(format!("branch.{branch}.merge")).await;
        let destination = match merge {
            Some(merge) if upstream_remote.as_deref() == Some(remote.as_str()) => merge,
            _ => format!("refs/heads/{branch}"),
        };
        let refspec = format!("HEAD:{destination}");
        self.git(&["push", "--porcelain", &remote, &refspec])
            .await
            .map(drop)
    }

    /// Changed, staged or untracked paths other than `path`.
    async fn changes_besides(&self, path: &str) -> Vec<String> {
        let Ok(status) = self
            .git(&["status", "--porcelain", "--untracked-files=all", "--", ":/"])
            .await
        else {
            return Vec::new();
        };
        let ours = Path::new(path);
        status
            .lines()
            .filter_map(|line| line.get(3..))
            .filter(|changed| !ours.ends_with(changed.trim_matches('"')))
            .map(str::to_string)
            .collect()
    }

    /// The commits in `since..until` (all reachable from `until` when there
    /// is no `since`), newest first, at most `limit`: their full messages.
    pub async fn messages(
        &self,
        since: Option<&str>,
        until: &str,
        limit: usize,
    ) -> Result<Vec<String>, GitError> {
        let range = match since {
            Some(since) => format!("{since}..{until}"),
            None => until.to_string(),
        };
        let count = format!("--max-count={limit}");
        let log = self
            .git(&["log", &count, "--format=%B%x1e", &range, "--"])
            .await?;
        Ok(log
            .split('\u{1e}')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Whether `commit` names a commit of this repository.
    pub async fn knows(&self, commit: &str) -> bool {
        self.git(&["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .await
            .is_ok()
    }

    /// The code directory's path inside the repository (`""` at its top).
    pub async fn prefix(&self) -> String {
        self.git(&["rev-parse", "--show-prefix"])
            .await
            .unwrap_or_default()
    }

    async fn git(&self, args: &[&str]) -> Result<String, GitError> {
        self.run(args, None).await
    }

    async fn git_as(&self, author: &Author, args: &[&str]) -> Result<String, GitError> {
        self.run(args, Some(author)).await
    }

    async fn run(&self, args: &[&str], committer: Option<&Author>) -> Result<String, GitError> {
        let mut command = crate::adapters::child::command("git");
        command
            // No hook of the repository runs (a fixer agent could have
            // written one, and `git push` runs `pre-push`), nor a file
            // system monitor its config names.
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "core.fsmonitor=false",
            ])
            .args(args)
            .current_dir(&self.dir)
            // Messages in English, and never a prompt for credentials: a
            // control plane has nobody to answer it.
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(author) = committer {
            command
                .env("GIT_COMMITTER_NAME", &author.name)
                .env("GIT_COMMITTER_EMAIL", &author.email);
        }
        let joined = args.join(" ");
        let output = tokio::time::timeout(GIT_TIMEOUT, command.output())
            .await
            .map_err(|_| GitError::Timeout {
                args: joined.clone(),
                seconds: GIT_TIMEOUT.as_secs(),
            })?
            .map_err(GitError::Spawn)?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join("; ");
        Err(GitError::Failed {
            args: joined,
            message: if message.is_empty() {
                format!("exit status {}", output.status)
            } else {
                message
            },
        })
    }
}

fn listed(paths: &[String]) -> String {
    let mut text = paths
        .iter()
        .take(LISTED_CHANGES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > LISTED_CHANGES {
        text.push_str(&format!(" and {} more", paths.len() - LISTED_CHANGES));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_author_is_a_name_and_an_email_in_angle_brackets() {
        assert_eq!(
            Author::parse("Release Bot <bot@example.com>"),
            Some(Author {
                name: "Release Bot".into(),
                email: "bot@example.com".into()
            })
        );
        for bad in [
            "bot@example.com",
            "<bot@example.com>",
            "Bot <>",
            "Bot <a<b>",
        ] {
            assert_eq!(Author::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_long_list_of_changes_is_cut() {
        let paths: Vec<String> = (0..7).map(|i| format!("f{i}")).collect();
        assert_eq!(listed(&paths), "f0, f1, f2, f3, f4 and 2 more");
    }
}
