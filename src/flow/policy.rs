//! The part of a deployment's config that steers its decisions: limits,
//! panel and gates. Read from the config text the `DeploymentRequested`
//! event carries, so a replay decides exactly as the first run did.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::analysis::AnalysisLimits;

use crate::config::Strategy;
use crate::config::{Config, Quorum};
use crate::events::{AnalysisPhase, RolloutStep, Tier};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub driver_attempts: u32,
    pub senior_attempts: u32,
    pub trio_attempts: u32,
    pub trio: Vec<String>,
    pub senior: String,
    pub juniors: Vec<String>,
    pub quorum: Quorum,
    pub max_rounds: u32,
    pub manual_gate: bool,
    pub tests: String,
    /// Stopped releases kept for rollback; 0 removes blue when it stops.
    pub retain: u32,
    /// Issues named by `fixes #N` are closed when a forge is configured.
    pub forge: bool,
    /// The report is committed to the code directory's repository.
    #[serde(default)]
    pub commit: bool,
    /// The router's admin address (`router.admin`), where `/metrics` reads
    /// its counters.
    #[serde(default)]
    pub router_admin: String,
    /// `router.listen`: where users reach the app.
    #[serde(default)]
    pub router_listen: String,
    /// The config's analysis templates, by name.
    #[serde(default)]
    pub analyses: BTreeMap<String, AnalysisLimits>,
    /// Templates run on green before the switch, in order.
    #[serde(default)]
    pub pre_promotion: Vec<String>,
    /// Templates run after the switch while blue is kept, in order.
    #[serde(default)]
    pub post_promotion: Vec<String>,
    /// How long blue is kept running after the switch (`scale_down_delay_s`).
    #[serde(default)]
    pub keep_blue_ms: u64,
    /// A firing alert this soon after the switch rolls the release back;
    /// `None`: alerts are only recorded.
    #[serde(default)]
    pub rollback_on_alert_ms: Option<u64>,
    /// `rollout.strategy = "canary"`: traffic moves in `steps`.
    #[serde(default)]
    pub canary: bool,
    #[serde(default)]
    pub steps: Vec<RolloutStep>,
    /// The template run beside the canary, and the step it starts at.
    #[serde(default)]
    pub background: Option<(String, u32)>,
}

impl Policy {
    /// The policy of a logged config, whose paths are relative to `base`.
    /// A caller that folds many deployments of one config (the read
    /// model's rebuild) keeps its own memo: see `Deployment::apply_with`.
    pub fn parse(config: &str, base: &str) -> Result<Policy, String> {
        let path = std::path::Path::new(base).join("deployflow.toml");
        Config::parse(config, &path)
            .map(|c| Policy::of(&c))
            .map_err(|e| e.to_string())
    }

    pub fn of(config: &Config) -> Policy {
        let names = |members: &[toml::Spanned<String>]| {
            members.iter().map(|m| m.get_ref().clone()).collect()
        };
        Policy {
            driver_attempts: config.fix.driver_attempts.count(),
            senior_attempts: config.fix.senior_attempts.count(),
            trio_attempts: config.fix.trio_attempts.count(),
            trio: names(&config.review.trio),
            senior: config.review.senior.get_ref().clone(),
            juniors: names(&config.review.juniors),
            quorum: config.review.quorum,
            max_rounds: config.review.max_rounds.0.min(u64::from(u32::MAX)) as u32,
            manual_gate: config.review.manual_gate,
            tests: config.inputs.tests.clone(),
            retain: config.runtime.get_ref().retain.count(),
            forge: config.forge.is_some(),
            commit: config.completion.commit,
            router_admin: config.router.admin.0.to_string(),
            router_listen: config.router.listen.0.to_string(),
            analyses: config
                .analysis
                .iter()
                .map(|(name, template)| (name.clone(), AnalysisLimits::of(template.get_ref())))
                .collect(),
            pre_promotion: names(&config.rollout.pre_promotion),
            post_promotion: names(&config.rollout.post_promotion),
            keep_blue_ms: config.rollout.scale_down_delay_s() * 1000,
            rollback_on_alert_ms: config
                .rollout
                .rollback_on_alert
                .then_some(config.rollout.alert_window_s.0 * 1000),
            canary: config.rollout.strategy == Strategy::Canary,
            steps: config
                .rollout
                .steps
                .iter()
                .map(|step| step.get_ref().clone())
                .collect(),
            background: config
                .rollout
                .background_analysis
                .as_ref()
                .and_then(|b| b.template())
                .map(|(name, from)| (name.to_string(), from)),
        }
    }

    /// The templates of `phase`, in order.
    pub fn analyses_of(&self, phase: AnalysisPhase) -> &[String] {
        match phase {
            AnalysisPhase::PrePromotion => &self.pre_promotion,
            AnalysisPhase::PostPromotion => &self.post_promotion,
            AnalysisPhase::Canary | AnalysisPhase::Background => &[],
        }
    }

    /// The strategy's name, as history gives it.
    pub fn strategy(&self) -> &'static str {
        if self.canary {
            Strategy::Canary.name()
        } else {
            Strategy::Bluegreen.name()
        }
    }

    /// Blue is kept running after the switch: to be watched, or to be
    /// switched back to at once.
    pub fn keeps_blue(&self) -> bool {
        self.keep_blue_ms > 0 || !self.post_promotion.is_empty()
    }

    /// How many fix attempts `tier` may make in one deployment.
    pub fn attempts(&self, tier: Tier) -> u32 {
        match tier {
            Tier::Driver => self.driver_attempts,
            Tier::Senior => self.senior_attempts,
            Tier::Trio => self.trio_attempts,
        }
    }
}

impl Default for Policy {
    /// The documented defaults; used only when a logged config no longer
    /// parses, which the state records as an error of its own.
    fn default() -> Self {
        Policy {
            driver_attempts: 3,
            senior_attempts: 2,
            trio_attempts: 1,
            trio: vec!["tests".into(), "requirements".into(), "hygiene".into()],
            senior: "synthesis".into(),
            juniors: vec!["tests".into(), "hygiene".into()],
            quorum: Quorum::All,
            max_rounds: 6,
            manual_gate: false,
            tests: String::new(),
            retain: 3,
            forge: false,
            commit: false,
            router_admin: String::new(),
            router_listen: String::new(),
            analyses: BTreeMap::new(),
            pre_promotion: Vec::new(),
            post_promotion: Vec::new(),
            keep_blue_ms: 0,
            rollback_on_alert_ms: None,
            canary: false,
            steps: Vec::new(),
            background: None,
        }
    }
}
