//! One step of a canary, as `rollout.steps` gives it and `step_started`
//! records it: the config's form is the log's, so what ran is what was
//! asked for, word for word.

use serde::{Deserialize, Serialize};

/// `{ set_weight = N }`, `{ pause_s = N }`, `{ pause = "manual" }` or
/// `{ analysis = "NAME" }`: an externally tagged enum, so the TOML table of
/// one key and the log's map of one key are the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStep {
    /// Green's share of the traffic, in percent (0 to 100, checked at load).
    SetWeight(u8),
    /// Hold the weight this many seconds (1 to 86 400, checked at load).
    PauseS(u64),
    /// Hold the weight until `deployflow approve` (or `reject`).
    Pause(ManualPause),
    /// Run the template to its end: failed aborts, inconclusive pauses.
    Analysis(String),
}

/// The one kind of open-ended pause: a person ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManualPause {
    Manual,
}

impl RolloutStep {
    /// The step in people's words, as `show`, the report and reasons say it.
    pub fn describe(&self) -> String {
        match self {
            RolloutStep::SetWeight(percent) => format!("set_weight {percent} %"),
            RolloutStep::PauseS(seconds) => format!("pause {seconds} s"),
            RolloutStep::Pause(ManualPause::Manual) => "manual pause".into(),
            RolloutStep::Analysis(name) => format!("analysis `{name}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Steps {
        steps: Vec<RolloutStep>,
    }

    #[test]
    fn the_config_form_reads_as_design_md_writes_it() {
        let text = r#"steps = [ { set_weight = 10 }, { analysis = "errors" }, { pause_s = 30 },
                               { set_weight = 50 }, { pause = "manual" } ]"#;
        let steps: Steps = toml::from_str(text).unwrap();
        assert_eq!(
            steps.steps,
            vec![
                RolloutStep::SetWeight(10),
                RolloutStep::Analysis("errors".into()),
                RolloutStep::PauseS(30),
                RolloutStep::SetWeight(50),
                RolloutStep::Pause(ManualPause::Manual),
            ]
        );
    }

    #[test]
    fn a_step_is_a_map_of_one_key_in_json_as_in_toml() {
        let json = serde_json::to_value(RolloutStep::SetWeight(10)).unwrap();
        assert_eq!(json, serde_json::json!({"set_weight": 10}));
        let manual = serde_json::to_value(RolloutStep::Pause(ManualPause::Manual)).unwrap();
        assert_eq!(manual, serde_json::json!({"pause": "manual"}));
    }

    #[test]
    fn a_step_of_two_keys_or_an_unknown_one_is_refused() {
        assert!(toml::from_str::<Steps>("steps = [ { set_weight = 10, pause_s = 3 } ]").is_err());
        assert!(toml::from_str::<Steps>("steps = [ { wait = 3 } ]").is_err());
        assert!(toml::from_str::<Steps>(r#"steps = [ { pause = "forever" } ]"#).is_err());
    }
}
