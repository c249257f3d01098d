//! Read models folded from the log: history, the review audit, metrics,
//! per-app rollback state, timelines and the deployment report. Each is a
//! pure fold over envelopes; `runner` keeps the read model checkpointed.

pub mod analyses;
pub mod apps;
pub mod audit;
pub mod generate;
pub mod history;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod notifications;
pub mod overhead;
pub mod phases;
pub mod report;
pub mod runner;
pub mod timeline;
pub mod words;
