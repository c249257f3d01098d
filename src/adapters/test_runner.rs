//! The test loop's runner (DESIGN.md, Phase 3): runs `inputs.tests` against
//! green and reads its summary.
//!
//! - `run`: `run_tests` and its errors; `process`: the command's process
//!   group, its timeout, its waiter.
//! - `capture`: both pipes into one log file and a capped tail, parsed as the
//!   lines arrive so a huge output is never held whole.
//! - `summary` and `tap`: the summaries printed on the output (cargo test,
//!   pytest, TAP); `junit`: JUnit XML; `reports`: the JUnit files a run
//!   leaves.

use serde::{Deserialize, Serialize};

mod capture;
mod counts;
mod junit;
mod process;
mod reports;
mod run;
mod summary;
mod tap;

pub use junit::parse_junit;
pub use run::{TestRunError, TestSpec, run_tests};
pub use summary::{Summary, parse_summary};

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

impl TestRun {
    /// The last `max_lines` lines of the output, for events and reviewers
    /// that cannot carry the whole of it.
    pub fn tail(&self, max_lines: usize) -> String {
        last_lines(&self.output, max_lines).to_string()
    }

    /// A run passes only when nothing failed *and* the command said so: a
    /// summary that shows no failure does not excuse a non-zero exit (a
    /// later step of the command may have failed), nor a kill.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.exit_code == Some(0)
    }
}

fn last_lines(text: &str, max_lines: usize) -> &str {
    if max_lines == 0 {
        return "";
    }
    // The final newline ends the last line; it does not start an empty one.
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(max_lines - 1) {
        Some((at, _)) => &text[at + 1..],
        None => text,
    }
}

#[cfg(test)]
mod tests;
