//! What every listener of deployflow shares: who it answers to
//! (`hosts.rs`).

pub mod hosts;
