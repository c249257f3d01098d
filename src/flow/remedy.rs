//! What the fix loop tries. Which one is the triage's (`triage.rs`), a
//! function of the folded state, so the step that asks for a fix and the
//! fold that reads it back agree.

use serde::Serialize;

use crate::events::Tier;

/// What a fix attempt does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "remedy")]
pub enum Remedy {
    /// Stop green and start it again as it was.
    Recreate,
    /// Start green again on another port (something else may hold its port).
    NewPort,
    /// Wait, then start again: a dependency may still be coming up.
    BackOff { ms: u64 },
    /// Run the tests once more against the same green: a flaky test
    /// passes the second time, a broken one fails again.
    Rerun,
    /// Ask the tier's fixers (Senior: the Senior member; Trio: its members)
    /// to change the release; it is then rebuilt and redeployed.
    Fixer { tier: Tier },
}

impl Remedy {
    /// The words a fix attempt's action starts with.
    pub fn name(&self) -> &'static str {
        use super::fix_loop::{BACK_OFF, NEW_PORT, RECREATE, RERUN};
        match self {
            Remedy::Recreate => RECREATE,
            Remedy::NewPort => NEW_PORT,
            Remedy::BackOff { .. } => BACK_OFF,
            Remedy::Rerun => RERUN,
            Remedy::Fixer { .. } => "fixers",
        }
    }
}

/// The Driver tier's built-in remedy for its `attempt`-th try.
pub fn driver_remedy(attempt: u32) -> Remedy {
    match attempt {
        0 | 1 => Remedy::Recreate,
        2 => Remedy::NewPort,
        n => Remedy::BackOff {
            ms: 1000u64.saturating_mul(1 << (n - 3).min(5)),
        },
    }
}
