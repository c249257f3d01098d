//! The test loop's runner: runs `inputs.tests` against green and reads its
//! summary. (Being written.)

use serde::{Deserialize, Serialize};

/// One run of the release's tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub duration_ms: u64,
    /// `None` when the command was killed (timeout, signal).
    pub exit_code: Option<i32>,
    /// stdout and stderr interleaved as they came, capped in size.
    pub output: String,
    /// The summary format recognised (`cargo`, `pytest`, `tap`, `junit`),
    /// or `None` when the exit code alone decided.
    pub format: Option<String>,
}
