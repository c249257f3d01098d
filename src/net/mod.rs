//! What every listener of deployflow shares: who it answers to
//! (`hosts.rs`), and how its connections are served so that none can be
//! held for nothing (`connections.rs`).

pub mod connections;
pub mod hosts;
