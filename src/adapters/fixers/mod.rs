//! Fixers for the fix loop's Senior and Trio tiers: something that changes
//! the release's code. A member with a `fix_command` runs it in the code
//! directory (`command.rs`: a coding agent; the diff it made is recorded);
//! a model member returns a unified diff that `git apply` applies
//! (`model.rs`, `patch.rs`). The built-in members only review. A tier asks
//! its members in turn (`tier.rs`). After an applied fix the flow
//! redeploys green, which rebuilds it.

mod command;
mod model;
mod patch;
mod snapshot;
mod tier;

use std::path::PathBuf;

use async_trait::async_trait;

pub use command::CommandFixer;
pub use model::ModelFixer;
pub use tier::{Seat, TierFixers};

use crate::events::{FixOutcome, Patch, Tier};

/// A recorded diff longer than this is cut (with a note): the event log
/// keeps what was tried, not whole rewrites.
const MAX_RECORDED_DIFF: usize = 64 * 1024;

/// What a fixer is asked to fix.
#[derive(Debug, Clone)]
pub struct FixRequest {
    pub app: String,
    pub release: String,
    pub tier: Tier,
    pub attempt: u32,
    /// What is wrong: the health check's answer and the log tail, the
    /// failing tests' output, or the review's findings. Secrets redacted.
    pub diagnosis: String,
    pub code_dir: PathBuf,
    /// The requirements document's text, for fixers that read it.
    pub requirements: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixReport {
    /// What was done, in words, for the event and the report.
    pub action: String,
    pub outcome: FixOutcome,
    /// The changes made or proposed.
    pub patches: Vec<Patch>,
}

#[async_trait]
pub trait Fixer: Send + Sync {
    async fn fix(&self, request: &FixRequest) -> FixReport;
}

/// `diff` as the event log keeps it: cut at a character boundary past
/// [`MAX_RECORDED_DIFF`], saying so.
fn recorded(member: &str, applied: bool, diff: &str) -> Patch {
    let diff = if diff.len() > MAX_RECORDED_DIFF {
        // Marked where it was cut: the redactor masks a secret cut there.
        format!(
            "{}\n... (diff cut at {} KiB of {} KiB)\n",
            crate::adapters::secrets::keep_head(diff, MAX_RECORDED_DIFF),
            MAX_RECORDED_DIFF / 1024,
            diff.len() / 1024
        )
    } else {
        diff.to_string()
    };
    Patch {
        member: member.to_string(),
        applied,
        diff,
    }
}
