//! Fixers for the fix loop's Senior and Trio tiers: something that changes
//! the release (a coding agent run in the code directory, a model that
//! returns a patch). The reviewers issue plugs real agents in here; the
//! embedded defaults have none, and say so in the event they record.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::events::{FixOutcome, Tier};

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixReport {
    /// What was done, in words, for the event and the report.
    pub action: String,
    pub outcome: FixOutcome,
}

#[async_trait]
pub trait Fixer: Send + Sync {
    fn name(&self) -> &str;
    async fn fix(&self, request: &FixRequest) -> FixReport;
}

/// The tier's members have no way to change code (the built-in members
/// only review): the tier gives up at once, and the loop escalates.
pub struct NoFixer {
    pub members: Vec<String>,
}

#[async_trait]
impl Fixer for NoFixer {
    fn name(&self) -> &str {
        "none"
    }

    async fn fix(&self, request: &FixRequest) -> FixReport {
        FixReport {
            action: format!(
                "no fixer for the {:?} tier: its members ({}) review but do not change code",
                request.tier,
                self.members.join(", ")
            ),
            outcome: FixOutcome::GaveUp,
        }
    }
}
