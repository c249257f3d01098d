//! The log's vocabulary: the small enums and records every payload is made
//! of (slots, tiers, roles, verdicts, findings, outcomes). A leaf: both
//! `event.rs` and `payloads.rs` read it, and it reads neither.

use serde::{Deserialize, Serialize};
use strum::{EnumIter, IntoStaticStr};

/// One of the two physical slots of an app; the candidate takes the idle one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Slot {
    Blue,
    Green,
}

/// The escalation tiers of the fix loop, in the order they are tried.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Tier {
    Driver,
    Senior,
    Trio,
}

/// Where a reviewer sits in the review loop.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    Trio,
    Senior,
    Junior,
    Manual,
}

/// A reviewer's answer. `Abstain` is what a missing, late or malformed answer
/// becomes: it never counts as approval.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    Approve,
    FixesNeeded,
    MajorFlaw,
    Abstain,
}

/// Ordered most severe first, so the worst of several is their minimum.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    EnumIter,
    IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

/// One problem a reviewer found, tied to a requirement and a place in the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(default)]
    pub requirement: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
    pub message: String,
}

/// What a model or command reviewer cost, and what it saw: the SHA-256 of
/// the exact prompt ties a verdict to its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency_ms: u64,
    /// The model the API said answered (it may differ from the one asked).
    pub model_reported: String,
    pub prompt_sha256: String,
    /// Calls made, retries included.
    pub attempts: u32,
}

/// A change to the release's code that a fixer made or proposed, as a
/// unified diff (secret values redacted): what was tried is on record
/// whether or not it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patch {
    /// The member whose fixer made it.
    pub member: String,
    pub applied: bool,
    pub diff: String,
}

/// What the review loop concluded for a round.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Decision {
    Promote,
    AwaitManualApproval,
    FixesNeeded,
    ReturnToDevelopment,
    Rollback,
}

/// How a fix attempt ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FixOutcome {
    /// The fix was applied; green is redeployed to find out whether it helped.
    Applied,
    /// The fix could not be applied (the fixer failed or proposed nothing).
    NotApplied,
    /// The fixer gave up; the loop escalates.
    GaveUp,
}

/// What became of one issue a promoted release's commits name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IssueOutcome {
    /// Commented on with the report's link, then closed.
    Closed,
    /// Closed before: left alone, no second comment.
    AlreadyClosed,
    /// Not an issue of the forge's (a pull request): left alone.
    Skipped,
    /// The forge refused or did not answer; `detail` says why.
    Failed,
}

/// The terminal status a deployment ends in (history's `status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Promoted,
    RolledBack,
    Returned,
    Rejected,
    Failed,
    Aborted,
}

/// When an analysis runs: on green before the switch, after the switch
/// while blue is kept, at a canary's step, or beside a whole canary.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AnalysisPhase {
    PrePromotion,
    PostPromotion,
    Canary,
    Background,
}

/// One measurement's verdict. `Error` is a measurement that could not be
/// taken (the provider failed); `Inconclusive` one that was taken but says
/// nothing either way (too few requests, neither condition true).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MeasurementVerdict {
    Successful,
    Failed,
    Inconclusive,
    Error,
}

/// How a whole analysis run ended: too many errors in a row fail it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RunVerdict {
    Successful,
    Failed,
    Inconclusive,
}

/// An input the deployment could not use, named so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingInput {
    pub item: String,
    pub reason: String,
}

/// The release serving an app's traffic when a deployment starts: the blue
/// the candidate goes beside, and what a rollback returns to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRelease {
    pub slot: Slot,
    pub release: String,
    /// Its direct address (host:port), which the router forwards to.
    pub endpoint: String,
    /// The deployment that made it live, to find how to start it again.
    #[serde(default)]
    pub deployment: Option<String>,
}

impl LiveRelease {
    /// The deployment that brought it live, when the log says.
    pub fn deployment_id(&self) -> Option<super::StreamId> {
        self.deployment
            .as_deref()
            .and_then(|id| id.parse().ok())
            .map(super::StreamId)
    }
}

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::Blue => Slot::Green,
            Slot::Green => Slot::Blue,
        }
    }
}

/// `name()` for the small enums above: their encoding's words, derived
/// (`IntoStaticStr`, the same `snake_case` as serde's), so no table can
/// drift from what the log holds. Pinned by `names_are_the_encodings`.
macro_rules! named_as_encoded {
    ($($ty:ty),+) => {$(
        impl $ty {
            /// As serialized: in the log, the `--json` output and the API.
            pub fn name(self) -> &'static str {
                self.into()
            }

            /// For people: the name with spaces (`rolled back`,
            /// `major flaw`), never the Rust one (`RolledBack`).
            pub fn words(self) -> String {
                self.name().replace('_', " ")
            }
        }
    )+};
}

named_as_encoded!(
    Slot,
    Tier,
    Role,
    Verdict,
    Severity,
    Decision,
    FixOutcome,
    IssueOutcome,
    Outcome,
    AnalysisPhase,
    MeasurementVerdict,
    RunVerdict
);

#[cfg(test)]
mod tests {
    use super::*;

    use strum::IntoEnumIterator;

    /// Every variant of every named enum: the derived name is serde's.
    fn same_as_serde<T: IntoEnumIterator + Serialize + Copy>(name: fn(T) -> &'static str) {
        for value in T::iter() {
            assert_eq!(serde_json::to_value(value).unwrap(), name(value));
        }
    }

    #[test]
    fn names_are_the_encodings() {
        same_as_serde(Slot::name);
        same_as_serde(Tier::name);
        same_as_serde(Role::name);
        same_as_serde(Verdict::name);
        same_as_serde(Severity::name);
        same_as_serde(Decision::name);
        same_as_serde(FixOutcome::name);
        same_as_serde(IssueOutcome::name);
        same_as_serde(Outcome::name);
        same_as_serde(AnalysisPhase::name);
        same_as_serde(MeasurementVerdict::name);
        same_as_serde(RunVerdict::name);
    }
}
