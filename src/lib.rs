//! deployflow: Blue/Green deployments as an event-sourced actor system.
//!
//! `events` is the append-only log every other part folds over; `router` is
//! the data plane that serves each app's traffic.

pub mod actors;
pub mod adapters;
pub mod config;
pub mod crash_points;
pub mod events;
pub mod exit;
pub mod flow;
pub mod net;
pub mod projections;
pub mod router;
pub mod server;
