//! The imperative shell's hands: everything that touches processes, files
//! and the network, each behind a trait or a small function the actors call.

pub mod analysis;
pub mod backend;
pub mod child;
pub mod fixers;
pub mod forge;
pub mod git;
pub mod health;
pub mod http;
pub mod inputs;
pub mod members;
pub mod owner_only;
pub mod release_files;
pub mod review;
pub mod router_client;
pub mod secrets;
pub mod shell;
pub mod snapshot_release;
pub mod test_runner;
