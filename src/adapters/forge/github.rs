//! GitHub's REST API (and the servers that speak it: GitHub Enterprise,
//! Gitea): read an issue, comment on it, close it. Every refusal becomes a
//! sentence a user can act on; none is retried, since a completion must not
//! hang on a forge.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ForgeError, IssueState, IssueTracker};
use crate::adapters::health::error_chain;

/// Bytes of a forge's answer read at most (a page of comments is far less).
const MAX_ANSWER: usize = 4 << 20;

/// One call's limit: the forge answers in milliseconds or is unwell.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Comments asked for per page (GitHub's largest), and pages read at most
/// when looking for this deployment's comment.
const PER_PAGE: usize = 100;
const COMMENT_PAGES: usize = 50;

/// GitHub's own API, when the config names none.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

pub struct GitHub {
    client: reqwest::Client,
    api: String,
    repo: String,
    token: String,
    /// The variable the token came from, named in messages (never its value).
    token_env: String,
}

#[derive(Deserialize)]
struct Issue {
    state: String,
    #[serde(default)]
    pull_request: Option<Value>,
}

#[derive(Deserialize)]
struct Comment {
    #[serde(default)]
    body: Option<String>,
}

impl GitHub {
    pub fn new(
        api: &str,
        repo: &str,
        token: String,
        token_env: &str,
    ) -> Result<GitHub, ForgeError> {
        let client = crate::adapters::http::client_builder()
            .timeout(CALL_TIMEOUT)
            .user_agent(concat!("deployflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ForgeError::Unreachable(e.to_string()))?;
        Ok(GitHub {
            client,
            api: api.trim_end_matches('/').to_string(),
            repo: repo.to_string(),
            token,
            token_env: token_env.to_string(),
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        issue: u64,
    ) -> Result<T, ForgeError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ForgeError::Unreachable(format!("{}: {}", self.api, error_chain(&e))))?;
        let status = response.status();
        if status.is_success() {
            return crate::adapters::http::read_json(response, MAX_ANSWER)
                .await
                .map_err(ForgeError::Unreadable);
        }
        let headers = response.headers().clone();
        let text = crate::adapters::http::read_capped(response, MAX_ANSWER)
            .await
            .map(|read| read.text)
            .unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| text.chars().take(200).collect());
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
        Err(match status {
            StatusCode::UNAUTHORIZED => ForgeError::BadToken {
                variable: self.token_env.clone(),
                message,
            },
            StatusCode::TOO_MANY_REQUESTS => ForgeError::RateLimited {
                until: reset_time(header("x-ratelimit-reset"), header("retry-after")),
                message,
            },
            StatusCode::FORBIDDEN if exhausted || header("retry-after").is_some() => {
                ForgeError::RateLimited {
                    until: reset_time(header("x-ratelimit-reset"), header("retry-after")),
                    message,
                }
            }
            StatusCode::FORBIDDEN => ForgeError::Forbidden {
                variable: self.token_env.clone(),
                repo: self.repo.clone(),
                message,
            },
            StatusCode::NOT_FOUND | StatusCode::GONE => ForgeError::NotFound {
                issue,
                repo: self.repo.clone(),
                message,
            },
            StatusCode::UNPROCESSABLE_ENTITY => ForgeError::Refused { message },
            other => ForgeError::Status {
                status: other.as_u16(),
                message,
            },
        })
    }
}

impl IssueTracker for GitHub {
    async fn issue(&self, number: u64) -> Result<IssueState, ForgeError> {
        let path = format!("/repos/{}/issues/{number}", self.repo);
        let issue: Issue = self.call(Method::GET, &path, None, number).await?;
        Ok(if issue.pull_request.is_some() {
            IssueState::PullRequest
        } else if issue.state == "closed" {
            IssueState::Closed
        } else {
            IssueState::Open
        })
    }

    /// Whether a comment on `number` holds `marker`, page by page (the
    /// newest comments are on the last).
    async fn commented(&self, number: u64, marker: &str) -> Result<bool, ForgeError> {
        for page in 1..=COMMENT_PAGES {
            let path = format!(
                "/repos/{}/issues/{number}/comments?per_page={PER_PAGE}&page={page}",
                self.repo
            );
            let comments: Vec<Comment> = self.call(Method::GET, &path, None, number).await?;
            if comments
                .iter()
                .any(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
            {
                return Ok(true);
            }
            if comments.len() < PER_PAGE {
                return Ok(false);
            }
        }
        Ok(false)
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let path = format!("/repos/{}/issues/{number}/comments", self.repo);
        let _: Value = self
            .call(Method::POST, &path, Some(json!({ "body": body })), number)
            .await?;
        Ok(())
    }

    async fn close(&self, number: u64) -> Result<(), ForgeError> {
        let path = format!("/repos/{}/issues/{number}", self.repo);
        let body = json!({ "state": "closed", "state_reason": "completed" });
        let _: Value = self.call(Method::PATCH, &path, Some(body), number).await?;
        Ok(())
    }
}

/// When a rate limit ends, in words: GitHub's reset time (epoch seconds) or
/// a Retry-After in seconds.
fn reset_time(reset: Option<String>, retry_after: Option<String>) -> String {
    if let Some(at) = reset
        .and_then(|r| r.parse::<i64>().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    {
        return at.to_rfc3339();
    }
    match retry_after {
        Some(seconds) => format!("{seconds} s from the answer"),
        None => "the limit resets".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_says_when_it_ends() {
        assert_eq!(
            reset_time(Some("1767225600".into()), None),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(reset_time(None, Some("30".into())), "30 s from the answer");
        assert_eq!(reset_time(Some("soon".into()), None), "the limit resets");
    }
}
