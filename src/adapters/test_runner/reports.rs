//! JUnit reports left on disk: runners told to write one (`--junitxml`,
//! nextest's `junit.path`, Gradle) often print no summary a parser knows.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::junit::parse_junit;
use super::summary::Summary;

/// How far past the run's start a report may look older than it is: the
/// kernel stamps files with a coarse clock that can lag the one we read.
const CLOCK_SLACK: Duration = Duration::from_secs(1);
const MAX_DEPTH: usize = 8;
const MAX_ENTRIES: usize = 50_000;
/// Larger is not a report of one run's tests, and not worth reading.
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// The first JUnit report the command left under `dir` that parses: an
/// `*.xml` named like `*junit*`, or in a `test-results` or `target/nextest`
/// directory, written since `since`. Blocking: run it off the runtime.
pub(super) fn find_junit_report(dir: &Path, since: SystemTime) -> Option<Summary> {
    let mut search = Search {
        since: since.checked_sub(CLOCK_SLACK).unwrap_or(since),
        budget: MAX_ENTRIES,
        found: Vec::new(),
    };
    search.walk(dir, 0, false);
    let mut found = search.found;
    found.sort();
    found.iter().find_map(|path| read_report(path))
}

/// A walk that does not follow links, skips hidden directories and
/// `node_modules`, and looks at no more than `MAX_ENTRIES` entries: a code
/// directory can be large, and the search must take a moment at most.
struct Search {
    since: SystemTime,
    budget: usize,
    found: Vec<PathBuf>,
}

impl Search {
    fn walk(&mut self, dir: &Path, depth: usize, in_reports: bool) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_file() {
                self.consider(entry.path(), &name, in_reports);
            } else if kind.is_dir() && depth < MAX_DEPTH && !is_skipped_dir(&name) {
                self.descend(&entry.path(), &name, depth, in_reports);
            }
        }
    }

    fn descend(&mut self, path: &Path, name: &str, depth: usize, in_reports: bool) {
        let in_reports = in_reports || name == "test-results";
        // A cargo target directory holds thousands of build files; its only
        // reports are nextest's (and any `*junit*.xml` at its top).
        if name == "target" {
            self.walk_files(path, in_reports);
            self.walk(&path.join("nextest"), depth + 2, true);
        } else {
            self.walk(path, depth + 1, in_reports);
        }
    }

    fn walk_files(&mut self, dir: &Path, in_reports: bool) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            if entry.file_type().is_ok_and(|kind| kind.is_file()) {
                let name = entry.file_name().to_string_lossy().into_owned();
                self.consider(entry.path(), &name, in_reports);
            }
        }
    }

    fn consider(&mut self, path: PathBuf, name: &str, in_reports: bool) {
        if is_report_name(name, in_reports) && is_fresh(&path, self.since) {
            self.found.push(path);
        }
    }
}

fn is_skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name == "node_modules"
}

fn is_report_name(name: &str, in_reports: bool) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") && (in_reports || lower.contains("junit"))
}

fn is_fresh(path: &Path, since: SystemTime) -> bool {
    fs::metadata(path)
        .and_then(|meta| meta.modified())
        .is_ok_and(|modified| modified >= since)
}

fn read_report(path: &Path) -> Option<Summary> {
    let size = fs::metadata(path).ok()?.len();
    if size > MAX_REPORT_BYTES {
        return None;
    }
    parse_junit(&fs::read_to_string(path).ok()?)
}

#[cfg(test)]
mod tests;
