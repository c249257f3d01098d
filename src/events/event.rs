//! The payloads of the log: every decision the flow makes, one variant each.
//!
//! The encoding is a contract with every log ever written: variants and fields
//! are encoded by name (rmp-serde's map form), so a new field must carry
//! `#[serde(default)]` and an existing one is never renamed. Golden-bytes
//! fixtures under `tests/golden/` pin each kind's encoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, EnumIter, IntoStaticStr};

use super::rollout_step::RolloutStep;
use super::terms::{Decision, Finding, LiveRelease, MissingInput, Outcome, Slot, Tier};

use super::payloads::{
    AlertReceived, AnalysisCompleted, AnalysisMeasured, AnalysisStarted, Drained, FixAttempted,
    GreenHealthy, GreenStarted, GreenUnhealthy, Intervention, IssueClosed, IssuesReferenced,
    ReportCommitted, ReportWritten, SynthesisRecorded, TestRunCompleted, VerdictRecorded,
};

/// Event payloads, one variant per kind. `EventKind` names the kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EnumDiscriminants)]
#[serde(rename_all = "snake_case")]
#[strum_discriminants(name(EventKind), derive(EnumIter, IntoStaticStr, Hash))]
#[strum_discriminants(strum(serialize_all = "snake_case"))]
pub enum Event {
    DeploymentRequested {
        app: String,
        release: String,
        requested_by: String,
        /// The deployflow.toml the request carried, as text. Secrets appear in
        /// it by name only; their values never enter the log.
        config: String,
        /// The release to return to if this one fails; `None` on a first deploy.
        #[serde(default)]
        rollback_to: Option<String>,
        #[serde(default)]
        commit: Option<String>,
        #[serde(default)]
        committed_at: Option<DateTime<Utc>>,
        /// What serves the app now; `None` on its first deploy. (Added after
        /// the first fixtures: left out of the encoding when absent.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blue: Option<LiveRelease>,
        /// The directory of the config file, which its paths are relative to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_dir: Option<String>,
    },
    InputsValidated {
        checked: Vec<String>,
    },
    InputsRejected {
        missing: Vec<MissingInput>,
    },
    GreenDeployIntended {
        slot: Slot,
        release: String,
        attempt: u32,
    },
    GreenStarted(GreenStarted),
    GreenHealthy(GreenHealthy),
    GreenUnhealthy(GreenUnhealthy),
    FixAttempted(FixAttempted),
    Escalated {
        from: Tier,
        to: Tier,
        reason: String,
    },
    TestRunIntended {
        command: String,
        target_url: String,
    },
    TestRunCompleted(TestRunCompleted),
    ReviewRequested {
        round: u32,
        members: Vec<String>,
    },
    VerdictRecorded(VerdictRecorded),
    SynthesisRecorded(SynthesisRecorded),
    DecisionMade {
        round: u32,
        decision: Decision,
        /// The rule that turned the verdicts into the decision, in words.
        rule: String,
    },
    ManuallyApproved(Intervention),
    ManuallyRejected(Intervention),
    TrafficSwitched {
        from: Option<Slot>,
        to: Slot,
        endpoint: String,
    },
    Drained(Drained),
    BlueStopped {
        slot: Slot,
        release: String,
        retained: bool,
    },
    ReportWritten(ReportWritten),
    IssuesClosed {
        issues: Vec<u64>,
    },
    /// Green stopped because the deployment ends without it.
    GreenStopped {
        slot: Slot,
        release: String,
    },
    /// The report committed to the code directory's repository, or why not
    /// (`commit` is `None`): a detached HEAD, no repository, git's refusal.
    ReportCommitted(ReportCommitted),
    /// The issues named by `fixes #N`, `closes #N` or `resolves #N` in the
    /// commits since the previously promoted release (`since`).
    IssuesReferenced(IssuesReferenced),
    /// One named issue handled on the forge.
    IssueClosed(IssueClosed),
    /// A completion side effect that did not work: recorded, and the
    /// deployment ends as it was going to (a promotion stays a promotion).
    CompletionStepFailed {
        step: String,
        reason: String,
    },
    Completed {
        outcome: Outcome,
    },
    RollbackStarted {
        reason: String,
        after_promotion: bool,
        to_release: Option<String>,
    },
    RollbackCompleted {
        live_release: Option<String>,
        live_slot: Option<Slot>,
    },
    /// A side effect is about to start (for those whose step no other event
    /// names): a restarted Driver that finds it without a result checks the
    /// world before acting again.
    EffectStarted {
        effect: String,
    },
    /// A rollback after promotion that could not bring the retained release
    /// back: traffic stays where it was.
    RollbackFailed {
        reason: String,
    },
    ReturnedToDevelopment {
        reason: String,
        findings: Vec<Finding>,
    },
    Aborted(Intervention),
    Failed {
        reason: String,
    },
    AnalysisStarted(AnalysisStarted),
    AnalysisMeasured(AnalysisMeasured),
    AnalysisCompleted(AnalysisCompleted),
    /// Blue was kept running, not serving, for the scale-down delay after
    /// the switch (and through the post-promotion analyses): it may stop.
    BlueKept {
        waited_ms: u64,
    },
    AlertReceived(AlertReceived),
    /// The router now sends `percent` of the app's traffic to green, the
    /// rest to blue (a canary's step, or 0 when the canary is withdrawn).
    WeightSet {
        percent: u8,
    },
    /// A canary's step `index` (from 0) of `rollout.steps` began.
    StepStarted {
        index: u32,
        step: RolloutStep,
    },
    /// A canary's step `index` ended well; `detail` says how (the weight
    /// taken, the pause waited, who approved, the analysis' verdict).
    StepCompleted {
        index: u32,
        detail: String,
    },
}

impl Event {
    pub fn kind(&self) -> EventKind {
        EventKind::from(self)
    }
}

impl EventKind {
    /// The kind's name as it appears in the encoding and in `events` output.
    pub fn name(self) -> &'static str {
        self.into()
    }
}
