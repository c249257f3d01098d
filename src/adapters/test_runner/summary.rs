//! The summaries test tools print: cargo test and pytest here, TAP in
//! `tap`. Fed line by line so a run's output is parsed as it streams.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

pub use super::counts::Summary;
use super::counts::{Counts, count};
use super::junit::junit_in_text;
use super::tap::TapTally;

/// Reads the test summaries in a run's output, summing the blocks of one
/// format when a command runs several suites. Cargo wins over pytest, and
/// both over TAP, whose `ok` lines are the likeliest to appear by accident;
/// JUnit XML printed on the output is the last resort.
pub fn parse_summary(output: &str) -> Option<Summary> {
    let mut parser = SummaryParser::default();
    for line in output.lines() {
        parser.line(line);
    }
    parser.finish().or_else(|| junit_in_text(output))
}

/// The incremental form of [`parse_summary`], for output read as it comes.
#[derive(Debug, Default)]
pub(super) struct SummaryParser {
    cargo: Option<Counts>,
    pytest: Option<Counts>,
    tap: TapTally,
}

impl SummaryParser {
    pub fn line(&mut self, raw: &str) {
        let line = clean(raw);
        // TAP needs the indentation (indented lines are subtests); the
        // others are matched on the trimmed line.
        self.tap.line(&line);
        let trimmed = line.trim();
        if let Some(counts) = cargo_line(trimmed) {
            self.cargo.get_or_insert_default().add(counts);
        } else if let Some(counts) = pytest_line(trimmed) {
            self.pytest.get_or_insert_default().add(counts);
        }
    }

    pub fn finish(self) -> Option<Summary> {
        if let Some(counts) = self.cargo {
            return Some(counts.into_summary("cargo"));
        }
        if let Some(counts) = self.pytest {
            return Some(counts.into_summary("pytest"));
        }
        self.tap.finish().map(|counts| counts.into_summary("tap"))
    }
}

static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]").expect("ANSI pattern"));

/// The line as a terminal would show it: tools colour their summaries when
/// they think they write to one, and progress output rewrites the line
/// after a carriage return.
fn clean(raw: &str) -> Cow<'_, str> {
    let shown = raw.trim_end_matches('\r');
    let shown = shown.rsplit('\r').next().unwrap_or(shown);
    if shown.contains('\x1b') {
        Cow::Owned(ANSI.replace_all(shown, "").into_owned())
    } else {
        Cow::Borrowed(shown)
    }
}

static CARGO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^test result: \S+\. (\d+) passed; (\d+) failed; (\d+) ignored;")
        .expect("cargo pattern")
});

/// `test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; ...`,
/// printed once per test binary and doc-test run.
fn cargo_line(line: &str) -> Option<Counts> {
    let caps = CARGO.captures(line)?;
    Some(Counts {
        passed: count(&caps[1]),
        failed: count(&caps[2]),
        skipped: count(&caps[3]),
    })
}

static PYTEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^=*\s*((?:\d+ [a-z]+(?:, )?)+|no tests ran)\s+in\s+[\d.]+\s*(?:s|seconds)(?:\s*\([^)]*\))?\s*=*$",
    )
    .expect("pytest pattern")
});

static PYTEST_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d+) ([a-z]+)").expect("pytest item pattern"));

/// pytest's last line, `==== 3 passed, 1 failed, 2 skipped in 0.12s ====`
/// (without the rules under `-q`). Items come in any order; a line with a
/// word pytest does not print is someone else's line.
fn pytest_line(line: &str) -> Option<Counts> {
    let items = PYTEST.captures(line)?.get(1)?.as_str();
    let mut counts = Counts::default();
    for item in PYTEST_ITEM.captures_iter(items) {
        let n = count(&item[1]);
        let slot = match &item[2] {
            "passed" | "xpassed" => &mut counts.passed,
            "failed" | "error" | "errors" => &mut counts.failed,
            "skipped" | "xfailed" => &mut counts.skipped,
            "warning" | "warnings" | "deselected" | "rerun" => continue,
            _ => return None,
        };
        *slot = slot.saturating_add(n);
    }
    Some(counts)
}

#[cfg(test)]
mod tests;
