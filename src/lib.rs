//! deployflow: Blue/Green deployments as an event-sourced actor system.
//!
//! `events` is the append-only log every other part folds over.

pub mod events;
