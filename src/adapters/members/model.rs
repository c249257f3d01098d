//! Model members: a reviewer behind an OpenAI-compatible chat completions
//! API (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp's server, LiteLLM) or
//! Anthropic's Messages API. The prompt fences the release as untrusted
//! data (`prompt.rs`); the answer is read strictly (`contract.rs`). A 429,
//! a 5xx or a network error is retried with back-off inside the member's
//! timeout; a truncated answer, an error or a timeout is `abstain`. The key
//! comes from the environment and goes only into the request's header.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::contract::{read_answer, schema};
use super::prompt::{Prompt, add_verdicts, collect_code_off_thread, fence_tag, render};
use crate::adapters::review::{Anonymized, Answer, Member, ReviewBundle, Synthesizer};
use crate::events::Usage;

/// The Messages API version deployflow speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Bytes of an API's answer read at most: a verdict, or a patch within a
/// recorded diff's size, is far less; a 10 MB finding is refused unread.
const MAX_API_ANSWER: usize = 1 << 20;
/// The first retry's wait; each next one doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A server's Retry-After is followed up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST {base_url}/chat/completions`.
    OpenAi,
    /// `POST {base_url}/v1/messages`.
    Anthropic,
}

pub struct ModelMember {
    pub name: String,
    pub api: Api,
    pub base_url: String,
    pub model: String,
    /// Read from `api_key_env` when the member is made; never logged.
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub max_tokens: u32,
    /// Calls after the first one, for 429, 5xx and network errors.
    pub retries: u32,
    pub budget_tokens: usize,
    pub redact: Box<dyn Fn(&str) -> String + Send + Sync>,
}

/// What one call brought back.
enum Reply {
    Text {
        text: String,
        truncated: bool,
        tokens_in: u64,
        tokens_out: u64,
        model: String,
    },
    /// Worth another try (429, 5xx, network).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Not worth another (400, 401, 404, an answer of the wrong shape).
    Fail(String),
}

/// What one exchange with the API brought back: the answer's text, or why
/// there is none; and what it cost.
pub struct Exchange {
    pub text: Result<String, String>,
    pub usage: Usage,
}

impl ModelMember {
    /// How verdicts and fix reports name this member's model.
    pub fn label(&self) -> String {
        format!("{}:{}", self.name, self.model)
    }

    /// The request for `prompt`, asking for JSON that `schema` describes.
    pub fn request_body(&self, prompt: &Prompt, schema_name: &str, schema: Value) -> Vec<u8> {
        serde_json::to_vec(&self.body(prompt, schema_name, schema)).unwrap_or_default()
    }

    fn body(&self, prompt: &Prompt, schema_name: &str, schema: Value) -> Value {
        match self.api {
            Api::OpenAi => json!({
                "model": self.model,
                "temperature": 0,
                "max_tokens": self.max_tokens,
                "messages": [
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "strict": true, "schema": schema},
                },
            }),
            Api::Anthropic => json!({
                "model": self.model,
                "temperature": 0,
                "max_tokens": self.max_tokens,
                "system": prompt.system,
                "messages": [{"role": "user", "content": prompt.user}],
            }),
        }
    }

    fn url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.api {
            Api::OpenAi => format!("{base}/chat/completions"),
            Api::Anthropic => format!("{base}/v1/messages"),
        }
    }

    async fn call(&self, client: &reqwest::Client, body: &[u8]) -> Reply {
        let mut request = client
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_vec());
        request = match (self.api, &self.api_key) {
            (Api::OpenAi, Some(key)) => request.bearer_auth(key),
            (Api::Anthropic, Some(key)) => request
                .header("x-api-key", key)
                .header("anthropic-version", ANTHROPIC_VERSION),
            (Api::Anthropic, None) => request.header("anthropic-version", ANTHROPIC_VERSION),
            (Api::OpenAi, None) => request,
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Reply::Retry {
                    why: format!("no answer: {}", crate::adapters::health::error_chain(&e)),
                    after: None,
                };
            }
        };
        let status = response.status();
        let after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match crate::adapters::http::read_capped(response, MAX_API_ANSWER).await {
            Ok(read) if read.cut => {
                // Never parsed from its beginning: no verdict is read out
                // of what the model did not finish saying.
                return Reply::Fail(format!(
                    "the API's answer is longer than {} KiB: not read further",
                    MAX_API_ANSWER / 1024
                ));
            }
            Ok(read) => read.text,
            Err(e) => {
                return Reply::Retry {
                    why: format!("the answer was cut off: {e}"),
                    after: None,
                };
            }
        };
        if status.as_u16() == 429 || status.is_server_error() {
            return Reply::Retry {
                why: format!("HTTP {status}: {}", first_chars(&text, 200)),
                after,
            };
        }
        if !status.is_success() {
            return Reply::Fail(format!("HTTP {status}: {}", first_chars(&text, 300)));
        }
        let Ok(json) = serde_json::from_str::<Value>(&text) else {
            return Reply::Fail("the API's answer is not JSON".into());
        };
        self.read_reply(&json)
    }

    fn read_reply(&self, json: &Value) -> Reply {
        let model = json["model"].as_str().unwrap_or(&self.model).to_string();
        match self.api {
            Api::OpenAi => {
                let choice = &json["choices"][0];
                let Some(text) = choice["message"]["content"].as_str() else {
                    return Reply::Fail("no message content in the answer".into());
                };
                Reply::Text {
                    text: text.to_string(),
                    truncated: choice["finish_reason"] == "length",
                    tokens_in: json["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                    tokens_out: json["usage"]["completion_tokens"].as_u64().unwrap_or(0),
                    model,
                }
            }
            Api::Anthropic => {
                let text: String = json["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|block| block["type"] == "text")
                    .filter_map(|block| block["text"].as_str())
                    .collect();
                if text.is_empty() {
                    return Reply::Fail("no text in the answer".into());
                }
                Reply::Text {
                    text,
                    truncated: json["stop_reason"] == "max_tokens",
                    tokens_in: json["usage"]["input_tokens"].as_u64().unwrap_or(0),
                    tokens_out: json["usage"]["output_tokens"].as_u64().unwrap_or(0),
                    model,
                }
            }
        }
    }
}

#[async_trait]
impl Member for ModelMember {
    fn name(&self) -> &str {
        &self.name
    }

    async fn review(&self, bundle: &ReviewBundle) -> Answer {
        self.ask(bundle, None).await
    }
}

#[async_trait]
impl Synthesizer for ModelMember {
    fn name(&self) -> &str {
        &self.name
    }

    async fn synthesize(&self, verdicts: &[Anonymized], bundle: &ReviewBundle) -> Answer {
        self.ask(bundle, Some(verdicts)).await
    }
}

impl ModelMember {
    /// A review, or with `verdicts` the Senior's synthesis of them.
    async fn ask(&self, bundle: &ReviewBundle, verdicts: Option<&[Anonymized]>) -> Answer {
        let label = self.label();
        let code = collect_code_off_thread(&bundle.code_dir, self.budget_tokens).await;
        let tag = fence_tag();
        let mut prompt = render(bundle, &code, &tag, self.redact.as_ref());
        if let Some(verdicts) = verdicts {
            add_verdicts(&mut prompt, verdicts, &tag, self.redact.as_ref());
        }
        let exchange = self
            .exchange(self.request_body(&prompt, "verdict", schema()))
            .await;
        let answer = match exchange.text {
            Ok(text) => read_answer(&text, &label),
            Err(why) => Answer::abstain(&label, why),
        };
        with_usage(answer, exchange.usage)
    }

    /// Sends `body`, retrying 429, 5xx and network errors with back-off
    /// inside the member's timeout. A truncated answer is no answer.
    pub async fn exchange(&self, body: Vec<u8>) -> Exchange {
        let mut usage = Usage {
            tokens_in: 0,
            tokens_out: 0,
            latency_ms: 0,
            model_reported: String::new(),
            prompt_sha256: hex::encode(Sha256::digest(&body)),
            attempts: 0,
        };
        let client = match http_client(self.timeout) {
            Ok(client) => client,
            Err(why) => {
                return Exchange {
                    text: Err(why),
                    usage,
                };
            }
        };
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut backoff = FIRST_BACKOFF;
        let text = loop {
            usage.attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(reply) = tokio::time::timeout(left, self.call(&client, &body)).await else {
                break Err(format!("no answer within {} s", self.timeout.as_secs()));
            };
            match reply {
                Reply::Text {
                    text,
                    truncated,
                    tokens_in,
                    tokens_out,
                    model,
                } => {
                    usage.tokens_in = tokens_in;
                    usage.tokens_out = tokens_out;
                    usage.model_reported = model;
                    break if truncated {
                        Err("the answer was truncated at max_tokens".to_string())
                    } else {
                        Ok(text)
                    };
                }
                Reply::Fail(why) => break Err(why),
                Reply::Retry { why, after } => {
                    let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                    if Instant::now() + wait >= deadline {
                        break Err(format!(
                            "no answer within {} s ({why})",
                            self.timeout.as_secs()
                        ));
                    }
                    if usage.attempts > self.retries {
                        break Err(format!("gave up after {} calls: {why}", usage.attempts));
                    }
                    tokio::time::sleep(wait).await;
                    backoff *= 2;
                }
            }
        };
        usage.latency_ms = started.elapsed().as_millis() as u64;
        Exchange { text, usage }
    }
}

fn with_usage(mut answer: Answer, usage: Usage) -> Answer {
    answer.usage = Some(usage);
    answer
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    crate::adapters::http::client_builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))
}

fn first_chars(text: &str, count: usize) -> String {
    text.chars().take(count).collect()
}
