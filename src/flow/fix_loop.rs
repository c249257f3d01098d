//! The fix loop's rules: which tier acts, what the Driver tier tries, and
//! when the loop is exhausted. Attempts count over the whole deployment and
//! the tier only moves up, so the loop always ends.

use serde::Serialize;

use super::state::Deployment;
use crate::events::{Event, Tier};

/// The action names the Driver tier's remedies record in `FixAttempted`.
pub const RECREATE: &str = "recreate";
pub const NEW_PORT: &str = "new port";
pub const BACK_OFF: &str = "back-off";

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

/// A run passes when nothing failed and the command exited 0.
pub fn tests_passed(failed: u32, exit_code: Option<i32>) -> bool {
    failed == 0 && exit_code == Some(0)
}

pub fn test_diagnosis(failed: u32, exit_code: Option<i32>, output_tail: &str) -> String {
    let exit = exit_code.map_or("no exit status".to_string(), |c| format!("exit status {c}"));
    format!("tests failed ({failed} failed, {exit}):\n{output_tail}")
}

fn next(tier: Tier) -> Option<Tier> {
    match tier {
        Tier::Driver => Some(Tier::Senior),
        Tier::Senior => Some(Tier::Trio),
        Tier::Trio => None,
    }
}

fn rank(tier: Tier) -> u8 {
    match tier {
        Tier::Driver => 0,
        Tier::Senior => 1,
        Tier::Trio => 2,
    }
}

pub fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Driver => "driver",
        Tier::Senior => "senior",
        Tier::Trio => "trio",
    }
}

/// The events that put `state` (already in `Phase::Fixing`) at a tier with
/// attempts left, starting no lower than `floor`: an `Escalated` when the
/// tier changes, or a rollback when every tier is spent.
pub fn enter(state: &Deployment, floor: Tier, why: &str) -> Vec<Event> {
    let start = if rank(floor) > rank(state.tier) {
        floor
    } else {
        state.tier
    };
    let mut candidate = Some(start);
    while let Some(tier) = candidate {
        if state.fixes.get(tier) < state.policy.attempts(tier) {
            if tier == state.tier {
                return Vec::new();
            }
            return vec![Event::Escalated {
                from: state.tier,
                to: tier,
                reason: why.to_string(),
            }];
        }
        candidate = next(tier);
    }
    vec![Event::RollbackStarted {
        reason: format!(
            "the fix loop is exhausted ({} driver, {} senior, {} trio attempts): {why}",
            state.fixes.driver, state.fixes.senior, state.fixes.trio
        ),
        after_promotion: false,
        to_release: state.blue.as_ref().map(|b| b.release.clone()),
    }]
}

/// The tier after `tier`, for a fixer that gave up.
pub fn above(tier: Tier) -> Option<Tier> {
    next(tier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_tier_tries_recreate_then_a_new_port_then_backs_off() {
        assert_eq!(driver_remedy(1), Remedy::Recreate);
        assert_eq!(driver_remedy(2), Remedy::NewPort);
        assert_eq!(driver_remedy(3), Remedy::BackOff { ms: 1000 });
        assert_eq!(driver_remedy(4), Remedy::BackOff { ms: 2000 });
        assert_eq!(driver_remedy(40), Remedy::BackOff { ms: 32_000 });
    }

    #[test]
    fn tests_pass_only_with_no_failure_and_exit_zero() {
        assert!(tests_passed(0, Some(0)));
        assert!(!tests_passed(1, Some(0)));
        assert!(!tests_passed(0, Some(1)));
        assert!(!tests_passed(0, None));
    }
}
