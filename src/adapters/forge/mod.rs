//! The forge (`[forge]`): after a promotion, the issues the release's
//! commits close get a comment linking the deployment report, then are
//! closed. `refs.rs` reads the commit messages, `github.rs` speaks the API.

mod github;
mod refs;

pub use github::{DEFAULT_API_URL, GitHub};
pub use refs::closed_issues;

use crate::events::IssueOutcome;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error("the forge refused the token in {variable} (401: {message})")]
    BadToken { variable: String, message: String },
    #[error("the token in {variable} may not change issues of {repo} (403: {message})")]
    Forbidden {
        variable: String,
        repo: String,
        message: String,
    },
    #[error("rate limited by the forge until {until} ({message})")]
    RateLimited { until: String, message: String },
    #[error("issue #{issue} was not found in {repo}, or the token cannot see it (404: {message})")]
    NotFound {
        issue: u64,
        repo: String,
        message: String,
    },
    #[error("the forge refused the change (422: {message})")]
    Refused { message: String },
    #[error("the forge answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the forge could not be reached: {0}")]
    Unreachable(String),
    #[error("the forge's answer could not be read: {0}")]
    Unreadable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueState {
    Open,
    Closed,
    PullRequest,
}

/// The calls closing an issue takes, so the order and the checks of
/// `close_issue` can be tested without a server.
pub trait IssueTracker {
    fn issue(&self, number: u64) -> impl Future<Output = Result<IssueState, ForgeError>> + Send;
    fn commented(
        &self,
        number: u64,
        marker: &str,
    ) -> impl Future<Output = Result<bool, ForgeError>> + Send;
    fn comment(
        &self,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    fn close(&self, number: u64) -> impl Future<Output = Result<(), ForgeError>> + Send;
}

/// The comment's hidden mark of `deployment`: how a resumed completion
/// knows its comment was posted before a crash.
pub fn marker(deployment: &str) -> String {
    format!("<!-- deployflow:{deployment} -->")
}

/// Comments `body` (which carries `marker`) on issue `number` and closes it.
/// An issue closed already is left alone: no second comment. When
/// `resumed` (the step may have run before a crash), a comment already
/// carrying the marker is not posted again.
pub async fn close_issue(
    forge: &impl IssueTracker,
    number: u64,
    body: &str,
    marker: &str,
    resumed: bool,
) -> (IssueOutcome, String) {
    match close_steps(forge, number, body, marker, resumed).await {
        Ok(done) => done,
        Err(e) => (IssueOutcome::Failed, e.to_string()),
    }
}

async fn close_steps(
    forge: &impl IssueTracker,
    number: u64,
    body: &str,
    marker: &str,
    resumed: bool,
) -> Result<(IssueOutcome, String), ForgeError> {
    match forge.issue(number).await? {
        IssueState::PullRequest => {
            return Ok((
                IssueOutcome::Skipped,
                "a pull request, not an issue: left as it is".into(),
            ));
        }
        IssueState::Closed => {
            // Closed by this deployment before a crash, or by someone else.
            let ours = resumed && forge.commented(number, marker).await?;
            return Ok(if ours {
                (IssueOutcome::Closed, "commented and closed".into())
            } else {
                (
                    IssueOutcome::AlreadyClosed,
                    "closed already: left as it is, no comment".into(),
                )
            });
        }
        IssueState::Open => {}
    }
    let posted = resumed && forge.commented(number, marker).await?;
    if !posted {
        forge.comment(number, body).await?;
        crate::crash_points::inside("between_comment_and_close");
    }
    forge.close(number).await?;
    Ok((IssueOutcome::Closed, "commented and closed".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Issues in memory, recording the calls that change them.
    #[derive(Default)]
    struct Tracker {
        closed: Mutex<Vec<u64>>,
        comments: Mutex<Vec<(u64, String)>>,
        pull_requests: Vec<u64>,
        refuse: Option<ForgeError>,
    }

    impl IssueTracker for Tracker {
        async fn issue(&self, number: u64) -> Result<IssueState, ForgeError> {
            if let Some(e) = &self.refuse {
                return Err(e.clone());
            }
            Ok(if self.pull_requests.contains(&number) {
                IssueState::PullRequest
            } else if self.closed.lock().unwrap().contains(&number) {
                IssueState::Closed
            } else {
                IssueState::Open
            })
        }
        async fn commented(&self, number: u64, marker: &str) -> Result<bool, ForgeError> {
            Ok(self
                .comments
                .lock()
                .unwrap()
                .iter()
                .any(|(n, body)| *n == number && body.contains(marker)))
        }
        async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
            self.comments
                .lock()
                .unwrap()
                .push((number, body.to_string()));
            Ok(())
        }
        async fn close(&self, number: u64) -> Result<(), ForgeError> {
            self.closed.lock().unwrap().push(number);
            Ok(())
        }
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn an_open_issue_is_commented_then_closed_and_a_second_run_adds_nothing() {
        let tracker = Tracker::default();
        let mark = marker("d1");
        let body = format!("deployed\n{mark}");
        let first = run(close_issue(&tracker, 7, &body, &mark, false));
        assert_eq!(first.0, IssueOutcome::Closed);
        // Run again as after a crash that lost the result.
        let again = run(close_issue(&tracker, 7, &body, &mark, true));
        assert_eq!(again.0, IssueOutcome::Closed);
        assert_eq!(tracker.comments.lock().unwrap().len(), 1);
        assert_eq!(*tracker.closed.lock().unwrap(), vec![7]);
    }

    #[test]
    fn a_crash_between_comment_and_close_is_finished_without_a_second_comment() {
        let tracker = Tracker::default();
        let mark = marker("d1");
        tracker
            .comments
            .lock()
            .unwrap()
            .push((7, format!("x {mark}")));
        let done = run(close_issue(&tracker, 7, &mark, &mark, true));
        assert_eq!(done.0, IssueOutcome::Closed);
        assert_eq!(tracker.comments.lock().unwrap().len(), 1);
    }

    #[test]
    fn closed_issues_and_pull_requests_are_left_alone() {
        let tracker = Tracker {
            pull_requests: vec![9],
            ..Tracker::default()
        };
        tracker.closed.lock().unwrap().push(8);
        let closed = run(close_issue(&tracker, 8, "b", "m", false));
        assert_eq!(closed.0, IssueOutcome::AlreadyClosed);
        let pull = run(close_issue(&tracker, 9, "b", "m", false));
        assert_eq!(pull.0, IssueOutcome::Skipped);
        assert!(tracker.comments.lock().unwrap().is_empty());
    }

    #[test]
    fn a_refusal_is_a_failed_issue_with_the_reason() {
        let tracker = Tracker {
            refuse: Some(ForgeError::BadToken {
                variable: "GITHUB_TOKEN".into(),
                message: "Bad credentials".into(),
            }),
            ..Tracker::default()
        };
        let (outcome, detail) = run(close_issue(&tracker, 1, "b", "m", false));
        assert_eq!(outcome, IssueOutcome::Failed);
        assert_eq!(
            detail,
            "the forge refused the token in GITHUB_TOKEN (401: Bad credentials)"
        );
    }
}
