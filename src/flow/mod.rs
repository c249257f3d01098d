//! The pure core of a deployment (DESIGN.md, "The flow"), in the shape of
//! an event-sourced aggregate:
//!
//! - `Deployment::apply` folds one event into the state;
//! - `next_step` says what the shell must do next (one side effect, wait for
//!   the manual gate, or nothing: it ended);
//! - `decide` turns that effect's result, or a person's command, into the
//!   events to append.
//!
//! No IO and no clock here: the Driver actor performs the effects through
//! adapters and feeds their results back, so replaying a stream's events
//! always rebuilds the state the live run had.

pub mod analysis;
pub mod compare;
mod completion;
pub mod consensus;
mod decide;
pub mod evidence;
pub mod fix_loop;
pub mod measurement;
mod phase;
mod policy;
#[cfg(test)]
mod properties;
mod remedy;
pub mod simulate;
mod state;
mod step;
pub mod triage;

pub use decide::{Input, Refusal, decide};
pub use fix_loop::Remedy;
pub use policy::Policy;
pub use state::{
    Deployment, Ending, FixCounts, Phase, PolicyParsed, RestoreStage, Review, ReviewStage,
    TestResult,
};
pub use step::{Effect, Step, background_step, next_step, target_url};
