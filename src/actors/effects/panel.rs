//! The review loop's asks: every member of a panel at once, and the
//! Senior's synthesis over the Trio's anonymized verdicts.

use std::sync::Arc;
use std::time::Duration;

use super::super::context::Context;
use super::bundle::bundle;
use super::seats::{member, member_timeout, synthesizer};
use crate::adapters::review::{Anonymized, ReviewBundle};
use crate::events::Role;
use crate::events::payloads::{Answer, SynthesisRecorded, VerdictRecorded};
use crate::flow::consensus::anonymous_label;
use crate::flow::{Deployment, Input};

/// A panel's reviews: the Trio reads the release; the Juniors read it and
/// the synthesis they review.
pub async fn review(
    ctx: &Context,
    state: &Deployment,
    role: Role,
    members: &[String],
) -> Vec<Input> {
    let synthesis = match role {
        Role::Junior => state
            .synthesis
            .as_ref()
            .map(|s| Answer::anonymous(s.verdict, s.findings.clone())),
        Role::Trio | Role::Senior | Role::Manual => None,
    };
    let bundle = bundle(ctx, state, synthesis);
    panel(ctx, role, members, bundle).await
}

/// The Senior's synthesis over anonymized verdicts. A Senior that cannot
/// be called abstains, saying why.
pub async fn synthesize(ctx: &Context, state: &Deployment, member: &str) -> Input {
    let answer = match synthesizer(ctx, member) {
        Ok(synthesizer) => {
            let verdicts: Vec<Anonymized> = state
                .trio_reviews
                .iter()
                .enumerate()
                .map(|(i, review)| Anonymized {
                    label: anonymous_label(i),
                    answer: Answer::anonymous(review.verdict, review.findings.clone()),
                })
                .collect();
            let bundle = bundle(ctx, state, None);
            // Like a Trio member, the Senior answers in time or abstains.
            let limit = member_timeout(ctx, member) + Duration::from_secs(5);
            tokio::time::timeout(limit, synthesizer.synthesize(&verdicts, &bundle))
                .await
                .unwrap_or_else(|_| {
                    Answer::abstain("timeout", format!("no answer within {} s", limit.as_secs()))
                })
        }
        Err(why) => Answer::abstain("unavailable", why),
    };
    Input::Synthesis(SynthesisRecorded {
        round: state.round,
        member: member.to_string(),
        answer,
    })
}

/// Every member asked at once, every one awaited; a late or crashed one
/// abstains.
async fn panel(ctx: &Context, role: Role, members: &[String], bundle: ReviewBundle) -> Vec<Input> {
    let round = bundle.round;
    let bundle = Arc::new(bundle);
    let mut asks = tokio::task::JoinSet::new();
    for (index, name) in members.iter().enumerate() {
        let member = member(ctx, name);
        let bundle = bundle.clone();
        // A backstop: members that call out keep their own timeout, a little
        // shorter, and say more about what ran out.
        let limit = member_timeout(ctx, name) + Duration::from_secs(5);
        asks.spawn(async move {
            let answer = match tokio::time::timeout(limit, member.review(&bundle)).await {
                Ok(answer) => answer,
                Err(_) => {
                    Answer::abstain("timeout", format!("no answer within {} s", limit.as_secs()))
                }
            };
            (index, answer)
        });
    }
    let mut answers: Vec<Option<Answer>> = vec![None; members.len()];
    while let Some(joined) = asks.join_next().await {
        if let Ok((index, answer)) = joined {
            answers[index] = Some(answer);
        }
    }
    members
        .iter()
        .zip(answers)
        .map(|(member, answer)| {
            let answer =
                answer.unwrap_or_else(|| Answer::abstain("crashed", "the review task panicked"));
            Input::Verdict(VerdictRecorded {
                round,
                role,
                member: member.to_string(),
                answer,
            })
        })
        .collect()
}
