//! The seats: reviewers, the Senior and fixers built from the config's
//! members, each made ready to call or saying why it cannot be.

use std::sync::Arc;
use std::time::Duration;

use super::super::context::Context;
use crate::adapters::fixers::{
    CommandFixer, FixRequest, ModelFixer, Seat as FixerSeat, TierFixers,
};
use crate::adapters::members::{
    Api, CommandMember, ModelMember, builtin, builtin_synthesizer, redact_key_material,
};
use crate::adapters::review::{Answer, Member, ReviewBundle, Synthesizer};
use crate::config::{MEMBER_TIMEOUT_S, MemberKind};
use crate::events::Tier;
use crate::flow::Input;

pub fn member(ctx: &Context, name: &str) -> Arc<dyn Member> {
    if let Some(member) = builtin(name, ctx.config.review.quorum) {
        return member;
    }
    match seat(ctx, name) {
        Seat::Command(member) => Arc::new(member),
        Seat::Model(member) => Arc::new(member),
        Seat::Unavailable(why) => Arc::new(Unavailable {
            name: name.to_string(),
            why,
        }),
    }
}

/// A configured member, made ready to call, or why it cannot be.
enum Seat {
    Command(CommandMember),
    Model(ModelMember),
    Unavailable(String),
}

fn seat(ctx: &Context, name: &str) -> Seat {
    let Some(config) = ctx.config.members.get(name).map(|m| m.get_ref()) else {
        return Seat::Unavailable(format!("no member {name} is configured"));
    };
    // Configured secrets, and any key the release itself leaked.
    let redactor = ctx.redactor();
    let redact = Box::new(move |text: &str| redactor.redact(&redact_key_material(text)));
    let budget_tokens = config.budget_tokens.0 as usize;
    let api = match config.kind {
        MemberKind::Command => {
            return Seat::Command(CommandMember {
                name: name.to_string(),
                command: config.command.clone().unwrap_or_default(),
                timeout: member_timeout(ctx, name),
                budget_tokens,
                redact,
            });
        }
        MemberKind::Openai => Api::OpenAi,
        MemberKind::Anthropic => Api::Anthropic,
    };
    let api_key = match &config.api_key_env {
        None => None,
        Some(variable) => match std::env::var(variable.as_str()) {
            Ok(key) if !key.is_empty() => Some(key),
            _ => {
                return Seat::Unavailable(format!(
                    "its API key variable {} is not set in the control plane's environment",
                    variable.as_str()
                ));
            }
        },
    };
    Seat::Model(ModelMember {
        name: name.to_string(),
        api,
        base_url: config.api_base_url(),
        model: config.model.clone().unwrap_or_default(),
        api_key,
        timeout: member_timeout(ctx, name),
        max_tokens: config.max_tokens.0 as u32,
        retries: config.retries.count(),
        budget_tokens,
        redact,
    })
}

/// The Senior called `name`: the built-in rule-based synthesis, or a model.
pub fn synthesizer(ctx: &Context, name: &str) -> Result<Arc<dyn Synthesizer>, String> {
    if let Some(synthesizer) = builtin_synthesizer(name, ctx.config.review.quorum) {
        return Ok(synthesizer);
    }
    match seat(ctx, name) {
        Seat::Model(member) => Ok(Arc::new(member)),
        Seat::Command(_) => Err(format!(
            "senior {name} is a command; the Senior is the built-in synthesis or a model"
        )),
        Seat::Unavailable(why) => Err(format!("senior {name}: {why}")),
    }
}

/// How long a member may take: its config's `timeout_s`, or the default.
pub fn member_timeout(ctx: &Context, name: &str) -> Duration {
    let seconds = ctx
        .config
        .members
        .get(name)
        .map_or(MEMBER_TIMEOUT_S, |m| m.get_ref().timeout_s.0);
    Duration::from_secs(seconds)
}

/// A member that cannot be called (not configured, its key missing): it
/// abstains, saying why, which never counts as approval.
struct Unavailable {
    name: String,
    why: String,
}

#[async_trait::async_trait]
impl Member for Unavailable {
    fn name(&self) -> &str {
        &self.name
    }

    async fn review(&self, _bundle: &ReviewBundle) -> Answer {
        Answer::abstain("unavailable", format!("member {}: {}", self.name, self.why))
    }
}

/// The tier's members as fixers: the Senior, or the Trio in order.
fn tier_fixers(ctx: &Context, tier: Tier) -> TierFixers {
    let members: Vec<String> = match tier {
        Tier::Senior => vec![ctx.config.review.senior.get_ref().clone()],
        _ => ctx
            .config
            .review
            .trio
            .iter()
            .map(|m| m.get_ref().clone())
            .collect(),
    };
    TierFixers {
        seats: members
            .into_iter()
            .map(|name| {
                let fixer = member_fixer(ctx, &name);
                (name, fixer)
            })
            .collect(),
    }
}

/// How member `name` fixes: its `fix_command` (an agent run in the code
/// directory), or as a model returning a patch; or why it cannot.
fn member_fixer(ctx: &Context, name: &str) -> FixerSeat {
    let configured = ctx.config.members.get(name).map(|m| m.get_ref());
    if let Some(command) = configured.and_then(|m| m.fix_command.clone()) {
        return Ok(Box::new(CommandFixer {
            name: name.to_string(),
            command,
            timeout: member_timeout(ctx, name),
        }));
    }
    if configured.is_none() {
        return Err("a built-in reviewer, it does not change code".into());
    }
    match seat(ctx, name) {
        Seat::Model(member) => Ok(Box::new(ModelFixer { member })),
        Seat::Command(_) => Err("a command member without `fix_command`".into()),
        Seat::Unavailable(why) => Err(why),
    }
}

pub async fn fix(ctx: &Context, tier: Tier, attempt: u32, diagnosis: &str) -> Input {
    let request = FixRequest {
        app: ctx.app.clone(),
        release: ctx.release.clone(),
        tier,
        attempt,
        diagnosis: diagnosis.to_string(),
        code_dir: ctx.paths.code.clone(),
        requirements: std::fs::read_to_string(&ctx.paths.requirements).unwrap_or_default(),
    };
    Input::FixDone(tier_fixers(ctx, tier).fix(&request).await)
}
