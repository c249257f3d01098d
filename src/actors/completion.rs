//! Performing the completion's side effects (`flow::completion`): the
//! report written into the code directory, committed with git, and the
//! issues the release closes closed on the forge. Each answers with what
//! happened, failures included; none can change how the deployment ends.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::context::Context;
use crate::adapters::forge::{self, DEFAULT_API_URL, GitHub};
use crate::adapters::git::{Author, Repo};
use crate::adapters::owner_only;
use crate::adapters::secrets::Secrets;
use crate::events::payloads::{IssueClosed, IssuesReferenced, ReportCommitted, ReportWritten};
use crate::events::{Event, IssueOutcome, Outcome, StreamId};
use crate::flow::{Deployment, Input};
use crate::projections::report;

/// Commits read for the issues they close, at most, since the previous
/// promotion.
const RANGE_COMMITS: usize = 1000;

/// Renders the report from the deployment's events and writes it, whole or
/// not at all, to `docs/deployments/<date>-<app>-<release>.md`.
pub async fn write_report(ctx: &Context) -> Result<Input, String> {
    let envelopes = ctx
        .services
        .store
        .read_stream(ctx.id, 0)
        .map_err(|e| e.to_string())?;
    if !ctx.paths.code.is_dir() {
        return Err(format!(
            "the code directory {} is not there",
            ctx.paths.code.display()
        ));
    }
    // Its events are redacted already; the report is scrubbed once more.
    let text = ctx
        .redactor()
        .redact(&report::render(&ctx.id.to_string(), &envelopes));
    let date = envelopes
        .first()
        .map(|e| e.recorded_at.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let path = report_path(&ctx.paths.code, &date, &ctx.app, &ctx.release);
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let target = path.clone();
    tokio::task::spawn_blocking(move || write_whole(&target, text.as_bytes()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Input::ReportWritten(ReportWritten {
        path: path.display().to_string(),
        sha256,
    }))
}

pub fn report_path(code: &Path, date: &str, app: &str, release: &str) -> PathBuf {
    code.join("docs")
        .join("deployments")
        .join(format!("{date}-{app}-{}.md", sanitize(release)))
}

/// A crash mid-write leaves the old report or the new one, never half.
/// It is the user's file, in the user's tree: the mode the user's umask
/// gives, not deployflow's owner-only one.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut missing = Vec::new();
    let mut up = Some(dir);
    while let Some(folder) = up.filter(|f| !f.as_os_str().is_empty() && !f.exists()) {
        missing.push(folder.to_path_buf());
        up = folder.parent();
    }
    std::fs::create_dir_all(dir)?;
    for folder in &missing {
        owner_only::as_user_would(folder)?;
    }
    let temporary = path.with_extension("md.tmp");
    std::fs::write(&temporary, bytes)?;
    owner_only::as_user_would(&temporary)?;
    std::fs::rename(&temporary, path)
}

fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Commits the report (`completion.commit`), pushing it when
/// `completion.push`; what could not be done is in the notes.
pub async fn commit_report(ctx: &Context, state: &Deployment, path: &str) -> Input {
    let code = &ctx.paths.code;
    let not_committed = |note: String| {
        Input::ReportCommitted(ReportCommitted {
            notes: vec![note],
            ..ReportCommitted::default()
        })
    };
    let repo = match Repo::open(code).await {
        Ok(Some(repo)) => repo,
        Ok(None) => {
            return not_committed(format!(
                "not committed: {} is not in a git repository",
                code.display()
            ));
        }
        Err(e) => return not_committed(format!("not committed: {e}")),
    };
    let completion = &ctx.config.completion;
    // The config was checked when it was loaded; this is its default.
    let author = Author::parse(&completion.author).unwrap_or(Author {
        name: "deployflow".into(),
        email: "deployflow@localhost".into(),
    });
    // Only a completion commits; its ending is always known here.
    let ending = state.completing_as().unwrap_or(Outcome::Promoted);
    let message = format!(
        "Deployment report: {} {} {}\n\nDeployment {} (deployflow).",
        ctx.app,
        ctx.release,
        crate::projections::history::status_name(Some(ending)),
        ctx.id
    );
    let done = repo
        .commit_report(Path::new(path), &author, &message, completion.push)
        .await;
    crate::crash_points::inside("between_commit_and_event");
    Input::ReportCommitted(done)
}

/// The issues named by the commits since the previously promoted release.
pub async fn find_issues(ctx: &Context, state: &Deployment) -> Result<Input, String> {
    let Some(forge) = &ctx.config.forge else {
        return Err("no [forge] is configured".into());
    };
    let until = commit_of(ctx, ctx.id).ok_or_else(|| {
        format!(
            "the release has no commit: {} was not a git repository when it was deployed",
            ctx.paths.code.display()
        )
    })?;
    let repo = Repo::open(&ctx.paths.code)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} is no longer a git repository", ctx.paths.code.display()))?;
    let previous = state
        .blue
        .as_ref()
        .and_then(|blue| blue.deployment_id())
        .and_then(|id| commit_of(ctx, id));
    // With no earlier promotion to start from (an app's first, or a
    // previous commit gone from a rewritten history), the release's own
    // commit is all that can be read safely: an old `fixes #N` must not
    // close an issue reopened since.
    let (since, limit) = match previous {
        Some(since) if repo.knows(&since).await => (Some(since), RANGE_COMMITS),
        _ => (None, 1),
    };
    let messages = repo
        .messages(since.as_deref(), &until, limit)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Input::IssuesFound(IssuesReferenced {
        issues: forge::closed_issues(messages.iter().map(String::as_str), &forge.repo),
        commits: u32::try_from(messages.len()).unwrap_or(u32::MAX),
        since,
    }))
}

/// The commit a deployment was requested at, from its first event.
fn commit_of(ctx: &Context, deployment: StreamId) -> Option<String> {
    let first = ctx.services.store.read_stream(deployment, 0).ok()?;
    match &first.first()?.event {
        Event::DeploymentRequested { commit, .. } => commit.clone(),
        _ => None,
    }
}

/// Comments on `issue` with the report's link and closes it.
pub async fn close_issue(ctx: &Context, state: &Deployment, issue: u64, resumed: bool) -> Input {
    let handled = |outcome, detail| {
        Input::IssueHandled(IssueClosed {
            issue,
            outcome,
            detail,
        })
    };
    let Some(config) = &ctx.config.forge else {
        return handled(IssueOutcome::Failed, "no [forge] is configured".into());
    };
    let names = [config.token_env.clone()];
    let secrets = match Secrets::resolve(&names, &ctx.paths.secrets_file) {
        Ok(secrets) => secrets,
        Err(e) => return handled(IssueOutcome::Failed, e.to_string()),
    };
    let token = secrets
        .env()
        .into_iter()
        .next()
        .map(|(_, value)| value)
        .unwrap_or_default();
    let api = config.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
    let github = match GitHub::new(api, &config.repo, token, config.token_env.as_str()) {
        Ok(github) => github,
        Err(e) => return handled(IssueOutcome::Failed, e.to_string()),
    };
    let marker = forge::marker(&ctx.id.to_string());
    let body = format!(
        "Released: {} {} was promoted to production by deployflow (deployment `{}`).\n\n{}\n\n{marker}",
        ctx.app,
        ctx.release,
        ctx.id,
        report_link(ctx, state, api, &config.repo).await
    );
    let (outcome, detail) = forge::close_issue(&github, issue, &body, &marker, resumed).await;
    // The token must not come back in a message the forge echoed.
    let detail = ctx.redactor().and(secrets.redactor()).redact(&detail);
    handled(outcome, detail)
}

/// Where the report can be read: its committed file on the forge's web
/// pages, or its path in the code directory when it was not committed.
async fn report_link(ctx: &Context, state: &Deployment, api: &str, repo: &str) -> String {
    let Some(path) = &state.report_path else {
        return "No deployment report was written.".into();
    };
    let relative = Path::new(path)
        .strip_prefix(&ctx.paths.code)
        .unwrap_or(Path::new(path))
        .display()
        .to_string();
    let Some(commit) = &state.report_commit else {
        return format!("Deployment report: `{relative}` in the code directory (not committed).");
    };
    // A link to a commit the forge does not have would be a dead one.
    if !state.report_pushed {
        return format!(
            "Deployment report: `{relative}` in the code directory, committed as {commit} (not pushed)."
        );
    }
    let prefix = match Repo::open(&ctx.paths.code).await {
        Ok(Some(repo)) => repo.prefix().await,
        _ => String::new(),
    };
    format!(
        "Deployment report: {}/{repo}/blob/{commit}/{prefix}{relative}",
        web_url(api)
    )
}

/// The forge's web address from its API's: GitHub's own, GitHub
/// Enterprise's `/api/v3`, Gitea's `/api/v1`.
fn web_url(api: &str) -> String {
    let api = api.trim_end_matches('/');
    if api == DEFAULT_API_URL {
        return "https://github.com".into();
    }
    api.strip_suffix("/api/v3")
        .or_else(|| api.strip_suffix("/api/v1"))
        .unwrap_or(api)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_address_is_the_apis_without_its_api_path() {
        assert_eq!(web_url("https://api.github.com/"), "https://github.com");
        assert_eq!(
            web_url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com"
        );
        assert_eq!(
            web_url("https://gitea.example.com/api/v1"),
            "https://gitea.example.com"
        );
        assert_eq!(web_url("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn a_release_label_becomes_a_safe_file_name() {
        let path = report_path(Path::new("/code"), "2026-12-01", "hello", "v2/../x y");
        assert_eq!(
            path,
            Path::new("/code/docs/deployments/2026-12-01-hello-v2_.._x_y.md")
        );
    }
}
