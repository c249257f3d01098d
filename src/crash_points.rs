//! Points where the crash tests make the control plane die, as a crash
//! would: after each event kind is appended, and before each side effect.
//! Built only with the `failpoints` feature (the test build turns it on);
//! otherwise every call is empty. A point set to `return` (the `fail`
//! crate's `FAILPOINTS=name=return`) aborts the process on the spot: no
//! unwinding, no clean shutdown.

/// After an event of `kind` is durably appended.
#[inline]
pub fn after_event(kind: &str) {
    #[cfg(feature = "failpoints")]
    hit(&format!("after_{kind}"));
    #[cfg(not(feature = "failpoints"))]
    let _ = kind;
}

/// Right before the side effect named `effect` starts.
#[inline]
pub fn before_effect(effect: &str) {
    #[cfg(feature = "failpoints")]
    hit(&format!("before_{effect}"));
    #[cfg(not(feature = "failpoints"))]
    let _ = effect;
}

/// Inside a side effect, between two of its steps (a container started but
/// not yet recorded, a rename half done).
#[inline]
pub fn inside(point: &str) {
    #[cfg(feature = "failpoints")]
    hit(point);
    #[cfg(not(feature = "failpoints"))]
    let _ = point;
}

#[cfg(feature = "failpoints")]
fn hit(name: &str) {
    if fail::eval(name, |_| ()).is_some() {
        eprintln!("crash point {name}: aborting");
        std::process::abort();
    }
}

/// Reads `FAILPOINTS` from the environment, for the process's lifetime.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}
