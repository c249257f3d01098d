//! The imperative shell's hands: everything that touches processes, files
//! and the network, each behind a trait or a small function the actors call.

pub mod members;
pub mod review;
pub mod test_runner;
