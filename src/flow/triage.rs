//! The Driver tier's triage: which of its remedies fits what went wrong,
//! or that none does and only a code change can help. A restart cannot
//! mend a failing test or an import error, so those go on to the tiers
//! that change code without spending the Driver tier's attempts; a port
//! in use gets a new port at once; a dependency not yet up gets time.
//! A pure function of the folded state: the step that asks for the fix,
//! the fold that reads it back and the decision that follows agree.

use super::evidence::{self, Failure};
use super::phase::{FixCause, Phase};
use super::remedy::{Remedy, driver_remedy};
use super::state::Deployment;
use crate::events::Tier;

/// What the Driver tier does about the failure at hand, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triage {
    /// None: no restart can fix it; the code-changing tiers are next.
    pub remedy: Option<Remedy>,
    pub why: String,
}

impl Triage {
    fn remedy(remedy: Remedy, why: impl Into<String>) -> Triage {
        Triage {
            remedy: Some(remedy),
            why: why.into(),
        }
    }

    fn none(why: impl Into<String>) -> Triage {
        Triage {
            remedy: None,
            why: why.into(),
        }
    }
}

/// The Driver tier's triage of `state`'s failure (its `Phase::Fixing`
/// cause), for its next attempt.
pub fn triage(state: &Deployment) -> Triage {
    let attempt = state.fixes.driver + 1;
    let Phase::Fixing { cause } = &state.phase else {
        return Triage::remedy(driver_remedy(attempt), "green is not healthy");
    };
    match cause {
        FixCause::Unhealthy { diagnosis } => match evidence::classify(diagnosis) {
            Failure::PortInUse => Triage::remedy(
                Remedy::NewPort,
                "its port is in use: start it on another one",
            ),
            Failure::DependencyNotUp => Triage::remedy(
                Remedy::BackOff {
                    ms: back_off_ms(state.backed_off),
                },
                "it could not reach a service it needs: give that time to come up",
            ),
            Failure::Crashed if state.same_crash_again() => Triage::none(format!(
                "it crashed the same way twice in a row ({}): a restart cannot fix that",
                evidence::headline(diagnosis)
            )),
            Failure::Crashed => Triage::remedy(
                Remedy::Recreate,
                "it crashed: start it once more to see whether it crashes the same way",
            ),
            Failure::NotAnswering => Triage::remedy(
                driver_remedy(attempt),
                "it runs but did not answer its health check",
            ),
        },
        FixCause::TestsFailed { .. } if state.failed_test_runs >= 2 => Triage::none(
            "the tests failed again on a re-run: a broken test or release, not a flaky one",
        ),
        FixCause::TestsFailed { .. } => Triage::remedy(
            Remedy::Rerun,
            "the tests failed: run them once more to tell a flaky test from a broken one",
        ),
        FixCause::ReviewAsked { .. } => Triage::none("the review asks for code fixes"),
    }
}

/// What `tier` does next for `state`: the Driver tier's triaged remedy
/// (a restart, should the triage have sent it on: a fold of a log written
/// before triage), or the tier's fixers.
pub fn remedy_for(state: &Deployment, tier: Tier) -> Remedy {
    match tier {
        Tier::Driver => triage(state).remedy.unwrap_or(Remedy::Recreate),
        tier => Remedy::Fixer { tier },
    }
}

/// Waits that double from a second, up to 32 s.
fn back_off_ms(before: u32) -> u64 {
    1000u64.saturating_mul(1 << before.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixing(cause: FixCause) -> Deployment {
        let mut state = Deployment::empty();
        state.phase = Phase::Fixing { cause };
        state.tier = Tier::Driver;
        state
    }

    fn unhealthy(diagnosis: &str) -> FixCause {
        FixCause::Unhealthy {
            diagnosis: diagnosis.into(),
        }
    }

    #[test]
    fn a_port_in_use_gets_a_new_port_at_once() {
        let state = fixing(unhealthy(
            "the process exited with status 98: OSError: [Errno 98] Address already in use",
        ));
        assert_eq!(triage(&state).remedy, Some(Remedy::NewPort));
    }

    #[test]
    fn a_dependency_not_up_gets_growing_waits() {
        let mut state = fixing(unhealthy(
            "the process exited with status 1: psycopg2.OperationalError: connection to server at \"db\" (10.0.0.3), port 5432 failed: Connection refused",
        ));
        assert_eq!(triage(&state).remedy, Some(Remedy::BackOff { ms: 1000 }));
        state.backed_off = 2;
        assert_eq!(triage(&state).remedy, Some(Remedy::BackOff { ms: 4000 }));
    }

    #[test]
    fn the_same_crash_twice_goes_to_the_code_tiers() {
        let crash = "the process exited with status 1: KeyError: 'SITE_SECRET'";
        let mut state = fixing(unhealthy(crash));
        state.unhealthy = vec![crash.to_string()];
        assert_eq!(triage(&state).remedy, Some(Remedy::Recreate));
        state.unhealthy = vec![crash.to_string(), crash.to_string()];
        let twice = triage(&state);
        assert_eq!(twice.remedy, None);
        assert!(twice.why.contains("the same way twice"), "{}", twice.why);
        // Another crash after it is a first time again.
        state.unhealthy = vec![
            crash.to_string(),
            "the process exited with status 2: ImportError: no module named flask".to_string(),
        ];
        assert_eq!(triage(&state).remedy, Some(Remedy::Recreate));
    }

    #[test]
    fn a_failed_test_run_is_run_once_more_then_goes_to_the_code_tiers() {
        let mut state = fixing(FixCause::TestsFailed {
            failed: 1,
            exit_code: Some(1),
            output_tail: "not ok 1 - greet".into(),
        });
        state.failed_test_runs = 1;
        assert_eq!(triage(&state).remedy, Some(Remedy::Rerun));
        state.failed_test_runs = 2;
        assert_eq!(triage(&state).remedy, None);
    }

    #[test]
    fn a_green_that_runs_but_never_answers_gets_the_restarts_in_turn() {
        let mut state = fixing(unhealthy(
            "no 2xx within 30 s; GET /health answered 503 Service Unavailable; the process is running",
        ));
        assert_eq!(triage(&state).remedy, Some(Remedy::Recreate));
        state.fixes.driver = 1;
        assert_eq!(triage(&state).remedy, Some(Remedy::NewPort));
    }
}
