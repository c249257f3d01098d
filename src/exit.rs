//! The exit codes of DESIGN.md, which scripts rely on: one list, which the
//! API's errors carry (`code`) and the command line exits with.

use std::process::ExitCode;

/// The exit codes of DESIGN.md, which scripts rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Error = 1,
    /// Bad usage or bad input: the config, missing inputs.
    BadInput = 2,
    RolledBack = 3,
    /// Returned to development.
    Returned = 4,
    /// Log integrity failure.
    Integrity = 5,
    /// Refused: another deployment holds the app's lock.
    Refused = 6,
}

impl Exit {
    /// The exit code a deployment's final status means.
    pub fn of_status(status: &str) -> Exit {
        match status {
            "promoted" => Exit::Success,
            "rolled_back" => Exit::RolledBack,
            "returned" => Exit::Returned,
            "rejected" => Exit::BadInput,
            _ => Exit::Error,
        }
    }

    pub fn from_code(code: i64) -> Exit {
        match code {
            0 => Exit::Success,
            2 => Exit::BadInput,
            3 => Exit::RolledBack,
            4 => Exit::Returned,
            5 => Exit::Integrity,
            6 => Exit::Refused,
            _ => Exit::Error,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
