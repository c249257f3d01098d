//! What every test-output parser produces (`summary`, `tap`, `junit`), in
//! a leaf file so the parsers do not import one another in a circle.

/// The counts a test tool reported, and which tool's format they came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub format: &'static str,
}

/// Passed, failed and skipped, added without overflow: the numbers come
/// from a command's output and can be anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.passed = self.passed.saturating_add(other.passed);
        self.failed = self.failed.saturating_add(other.failed);
        self.skipped = self.skipped.saturating_add(other.skipped);
    }

    pub fn into_summary(self, format: &'static str) -> Summary {
        Summary {
            passed: self.passed,
            failed: self.failed,
            skipped: self.skipped,
            format,
        }
    }
}

/// A count as printed; only the regexes' `\d+` reach it, so the one way
/// to fail is overflow, which saturates.
pub(super) fn count(digits: &str) -> u32 {
    digits.parse().unwrap_or(u32::MAX)
}
