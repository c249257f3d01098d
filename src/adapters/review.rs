//! What a reviewer gets and what it answers (DESIGN.md: the verdict JSON is
//! a contract). A member never fails the flow: an error, a timeout or an
//! answer that is not the contract becomes `abstain`, never approval.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;

use super::test_runner::TestRun;
pub use crate::events::payloads::Answer;
use crate::events::{FixOutcome, Tier};

/// Everything a member reviews. Built by the shell from the log and the
/// files the log names; it never carries a secret's value.
#[derive(Debug, Clone)]
pub struct ReviewBundle {
    pub app: String,
    pub release: String,
    pub round: u32,
    /// The release's source (absolute).
    pub code_dir: PathBuf,
    /// The requirements document (absolute) and its text.
    pub requirements_path: PathBuf,
    pub requirements: String,
    /// The test command as configured (`inputs.tests`).
    pub tests_command: String,
    /// The last test run against green, with its full output.
    pub test_run: Option<TestRun>,
    /// For Juniors: the Senior's synthesis of the Trio's verdicts.
    pub synthesis: Option<Answer>,
    /// The deployment's fix attempts so far, oldest first.
    pub fix_history: Vec<FixRecord>,
}

/// One attempt of the fix loop, as reviewers see it: a release that only
/// runs after three fixes deserves a closer look than one that ran at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixRecord {
    pub tier: Tier,
    pub attempt: u32,
    /// What was wrong (its first lines).
    pub diagnosis: String,
    pub action: String,
    pub outcome: FixOutcome,
}

/// A reviewer: a Trio member or a Junior.
#[async_trait]
pub trait Member: Send + Sync {
    fn name(&self) -> &str;
    /// Never fails: problems become `Answer::abstain`.
    async fn review(&self, bundle: &ReviewBundle) -> Answer;
}

/// A verdict shown to the Senior without its author's name.
#[derive(Debug, Clone)]
pub struct Anonymized {
    /// "Reviewer A", "Reviewer B", ...
    pub label: String,
    pub answer: Answer,
}

/// The Senior's synthesis of the Trio's verdicts.
#[async_trait]
pub trait Synthesizer: Send + Sync {
    fn name(&self) -> &str;
    async fn synthesize(&self, verdicts: &[Anonymized], bundle: &ReviewBundle) -> Answer;
}
