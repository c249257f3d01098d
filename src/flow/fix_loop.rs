//! The fix loop's rules: which tier acts, what the Driver tier tries, and
//! when the loop is exhausted. Attempts count over the whole deployment and
//! the tier only moves up, so the loop always ends.

use super::phase::FixCause;
pub use super::remedy::{Remedy, driver_remedy};
use super::state::Deployment;
use crate::events::{Event, Tier};

/// The action names the Driver tier's remedies record in `FixAttempted`.
pub const RECREATE: &str = "recreate";
pub const NEW_PORT: &str = "new port";
pub const BACK_OFF: &str = "back-off";
pub const RERUN: &str = "re-run";

/// The fixers' words for why a fix is next, as the log records them.
pub fn diagnosis(cause: &FixCause) -> String {
    match cause {
        FixCause::Unhealthy { diagnosis } => diagnosis.clone(),
        FixCause::TestsFailed {
            failed,
            exit_code,
            output_tail,
        } => test_diagnosis(*failed, *exit_code, output_tail),
        FixCause::ReviewAsked { round, findings } => {
            super::consensus::fix_request(*round, findings)
        }
    }
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

/// The events that put `state` (already in `Phase::Fixing`) at a tier with
/// attempts left, starting no lower than `floor`: an `Escalated` when the
/// tier changes, or a rollback when every tier is spent.
pub fn enter(state: &Deployment, floor: Tier, why: &str) -> Vec<Event> {
    let start = if rank(floor) > rank(state.tier) {
        floor
    } else {
        state.tier
    };
    // No restart fits this failure: the tiers that change code are next,
    // and the escalation says why.
    let unfit = (start == Tier::Driver)
        .then(|| super::triage::triage(state))
        .filter(|triaged| triaged.remedy.is_none());
    let (start, why) = match &unfit {
        Some(triaged) => (Tier::Senior, triaged.why.as_str()),
        None => (start, why),
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
    vec![exhausted(state, why)]
}

/// The rollback when every tier is spent, its reason led by what could
/// not be mended (`evidence::unfixed`: the app's words, the failing
/// tests, the worst finding), then what was tried.
pub fn exhausted(state: &Deployment, why: &str) -> Event {
    let tried = format!(
        "{} driver, {} senior, {} trio",
        state.fixes.driver, state.fixes.senior, state.fixes.trio
    );
    let reason = match &state.phase {
        super::Phase::Fixing { cause } => format!(
            "{}; the fix loop could not mend it ({tried} attempts; {why})",
            super::evidence::unfixed(cause)
        ),
        _ => format!("the fix loop is exhausted ({tried} attempts): {why}"),
    };
    Event::RollbackStarted {
        reason,
        after_promotion: false,
        to_release: state.blue.as_ref().map(|b| b.release.clone()),
    }
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
        use super::super::state::tests_passed;
        assert!(tests_passed(0, Some(0)));
        assert!(!tests_passed(1, Some(0)));
        assert!(!tests_passed(0, Some(1)));
        assert!(!tests_passed(0, None));
    }
}
