//! What the fix loop tries: a function of the tier and the attempt, so the
//! step that asks for a fix and the fold that reads it back agree.

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
    /// Ask the tier's fixers (Senior: the Senior member; Trio: its members)
    /// to change the release; it is then rebuilt and redeployed.
    Fixer { tier: Tier },
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

pub fn remedy(tier: Tier, attempt: u32) -> Remedy {
    match tier {
        Tier::Driver => driver_remedy(attempt),
        tier => Remedy::Fixer { tier },
    }
}
