//! The exit codes, shared with the control plane's API (`deployflow::exit`).

pub use deployflow::exit::Exit;
