//! A fixer that is a model: shown what is wrong, the requirements and the
//! code (fenced as untrusted data, secrets redacted, within the member's
//! token budget), it answers `{"summary", "patch"}` with the patch a
//! unified diff, which `patch.rs` applies with `git apply`. A patch that
//! does not apply is a failed attempt, and is recorded as one.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FixReport, FixRequest, Fixer, patch, recorded};
use crate::adapters::members::ModelMember;
use crate::adapters::members::contract::extract;
use crate::adapters::members::prompt::{
    CodeExcerpt, Fence, Prompt, collect_code_off_thread, fence_tag, push_code,
};
use crate::events::{FixOutcome, Usage};

pub struct ModelFixer {
    pub member: ModelMember,
}

/// What the model answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proposal {
    summary: String,
    patch: String,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "patch"],
        "properties": {
            "summary": {"type": "string"},
            "patch": {"type": "string"}
        }
    })
}

#[async_trait]
impl Fixer for ModelFixer {
    async fn fix(&self, request: &FixRequest) -> FixReport {
        let member = &self.member;
        let code = collect_code_off_thread(&request.code_dir, member.budget_tokens).await;
        let prompt = render(request, &code, &fence_tag(), member.redact.as_ref());
        let exchange = member
            .exchange(member.request_body(&prompt, "patch", schema()))
            .await;
        let cost = cost(&exchange.usage);
        let not_applied = |why: String| FixReport {
            action: format!("{}: {why} ({cost})", member.label()),
            outcome: FixOutcome::NotApplied,
            patches: Vec::new(),
        };
        let text = match exchange.text {
            Ok(text) => text,
            Err(why) => return not_applied(why),
        };
        let proposal = match extract(&text).and_then(|json| {
            serde_json::from_str::<Proposal>(json)
                .map_err(|e| format!("not the fix answer {{summary, patch}}: {e}"))
        }) {
            Ok(proposal) => proposal,
            Err(why) => return not_applied(why),
        };
        if proposal.patch.trim().is_empty() {
            return not_applied(format!("proposed no change: {}", proposal.summary));
        }
        match patch::apply(&request.code_dir, &proposal.patch).await {
            Ok(()) => FixReport {
                action: format!(
                    "{}: applied a patch: {} ({cost})",
                    member.label(),
                    proposal.summary
                ),
                outcome: FixOutcome::Applied,
                patches: vec![recorded(&member.name, true, &proposal.patch)],
            },
            Err(why) => FixReport {
                action: format!(
                    "{}: its patch did not apply: {why} ({cost})",
                    member.label()
                ),
                outcome: FixOutcome::NotApplied,
                patches: vec![recorded(&member.name, false, &proposal.patch)],
            },
        }
    }
}

/// Usage in a few words, for the attempt's action.
fn cost(usage: &Usage) -> String {
    format!(
        "{} tokens in, {} out, {} ms, {} calls, prompt sha256 {}",
        usage.tokens_in, usage.tokens_out, usage.latency_ms, usage.attempts, usage.prompt_sha256
    )
}

/// The fix prompt.
fn render(
    request: &FixRequest,
    code: &CodeExcerpt,
    tag: &str,
    redact: &dyn Fn(&str) -> String,
) -> Prompt {
    let fence = Fence::new(tag);
    let system = format!(
        "You fix a release that failed on its way to production.\n{}\n\
         Answer with one JSON object and nothing else: {{\"summary\": \"what you changed and \
         why\", \"patch\": \"...\"}}. patch is a unified diff in `git diff` form (`--- a/PATH`, \
         `+++ b/PATH`, hunks with three lines of context; PATH relative to the code directory \
         as the files are named below) that fixes what is wrong and changes nothing else; \
         an empty string if you cannot fix it.",
        fence.rule()
    );
    let mut user = format!(
        "Release {} of {}: fix attempt {} at the {} tier.\n\n## What is wrong\n{}\n\
         ## Requirements\n{}\n## Code\n",
        request.release,
        request.app,
        request.attempt,
        request.tier.name(),
        fence.wrap("diagnosis", &request.diagnosis, redact),
        fence.wrap("requirements", &request.requirements, redact),
    );
    push_code(&mut user, code, &fence, redact);
    Prompt { system, user }
}
