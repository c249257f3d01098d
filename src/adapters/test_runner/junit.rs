//! JUnit XML: the report many runners write instead of (or besides) a
//! summary line, printed on the output or left in a file.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::counts::{Counts, Summary};

/// Reads the counts of a JUnit report: the `<testsuites>` totals when it
/// has them, else the sum of its outermost `<testsuite>`s (a suite's own
/// attributes, or its `<testcase>`s counted when it has none). `None` when
/// the text is not well-formed XML or holds no suite.
pub fn parse_junit(xml: &str) -> Option<Summary> {
    let mut reader = Reader::from_str(xml);
    let mut walk = Walk::default();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                walk.open_elements += 1;
                walk.open(&e);
            }
            Event::Empty(e) => {
                walk.open(&e);
                walk.close(e.local_name().as_ref());
            }
            Event::End(e) => {
                walk.open_elements = walk.open_elements.saturating_sub(1);
                walk.close(e.local_name().as_ref());
            }
            // A report cut short (the run killed while writing it) would
            // undercount.
            Event::Eof if walk.open_elements > 0 => return None,
            Event::Eof => break,
            _ => {}
        }
    }
    walk.finish()
}

/// A report printed on the output, cut out of the text around it.
pub(super) fn junit_in_text(output: &str) -> Option<Summary> {
    let start = output.find("<testsuite")?;
    let end = ["</testsuites>", "</testsuite>"]
        .iter()
        .filter_map(|tag| output.rfind(tag).map(|at| at + tag.len()))
        .filter(|&end| end > start)
        .max()
        .unwrap_or(output.len());
    parse_junit(&output[start..end])
}

/// A suite's attributes, each `None` when absent or not a count.
#[derive(Debug, Default, Clone, Copy)]
struct Attrs {
    tests: Option<u32>,
    failures: Option<u32>,
    errors: Option<u32>,
    skipped: Option<u32>,
}

impl Attrs {
    fn of(element: &BytesStart<'_>) -> Attrs {
        let mut attrs = Attrs::default();
        for attr in element.attributes().flatten() {
            let value = attr.value.trim().parse().ok();
            match attr.key.local_name().as_ref() {
                "tests" => attrs.tests = value,
                "failures" => attrs.failures = value,
                "errors" => attrs.errors = value,
                // `skip` is what nose writes.
                "skipped" | "skip" => attrs.skipped = value,
                _ => {}
            }
        }
        attrs
    }

    fn counts(self) -> Counts {
        let failed = self
            .failures
            .unwrap_or(0)
            .saturating_add(self.errors.unwrap_or(0));
        let skipped = self.skipped.unwrap_or(0);
        Counts {
            passed: self
                .tests
                .unwrap_or(0)
                .saturating_sub(failed)
                .saturating_sub(skipped),
            failed,
            skipped,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Passed,
    Failed,
    Skipped,
}

/// The outermost suite being read: nested suites are already in its
/// attributes, so only their test cases are looked at.
#[derive(Debug, Default)]
struct Suite {
    attrs: Attrs,
    counted: Counts,
    case: Option<Case>,
}

impl Suite {
    fn counts(&self) -> Counts {
        if self.attrs.tests.is_some() {
            self.attrs.counts()
        } else {
            self.counted
        }
    }
}

#[derive(Debug, Default)]
struct Walk {
    open_elements: u32,
    totals: Option<Attrs>,
    suites: Counts,
    seen_suite: bool,
    depth: u32,
    suite: Option<Suite>,
}

impl Walk {
    fn open(&mut self, e: &BytesStart<'_>) {
        match e.local_name().as_ref() {
            "testsuites" => {
                self.totals.get_or_insert_with(|| Attrs::of(e));
            }
            "testsuite" => {
                self.depth = self.depth.saturating_add(1);
                if self.depth == 1 {
                    self.seen_suite = true;
                    self.suite = Some(Suite {
                        attrs: Attrs::of(e),
                        ..Suite::default()
                    });
                }
            }
            name => self.mark_case(name),
        }
    }

    fn mark_case(&mut self, name: &str) {
        let Some(suite) = self.suite.as_mut() else {
            return;
        };
        match (name, suite.case) {
            ("testcase", _) => suite.case = Some(Case::Passed),
            ("failure" | "error", Some(_)) => suite.case = Some(Case::Failed),
            ("skipped", Some(Case::Passed)) => suite.case = Some(Case::Skipped),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "testsuite" if self.depth > 0 => {
                self.depth -= 1;
                if self.depth == 0
                    && let Some(suite) = self.suite.take()
                {
                    self.suites.add(suite.counts());
                }
            }
            "testcase" => self.count_case(),
            _ => {}
        }
    }

    fn count_case(&mut self) {
        let Some(suite) = self.suite.as_mut() else {
            return;
        };
        let slot = match suite.case.take() {
            Some(Case::Passed) => &mut suite.counted.passed,
            Some(Case::Failed) => &mut suite.counted.failed,
            Some(Case::Skipped) => &mut suite.counted.skipped,
            None => return,
        };
        *slot = slot.saturating_add(1);
    }

    fn finish(self) -> Option<Summary> {
        let counts = match self.totals {
            Some(totals) => merge(totals, self.suites),
            None if self.seen_suite => self.suites,
            None => return None,
        };
        Some(counts.into_summary("junit"))
    }
}

/// Each total the `<testsuites>` element states wins over the suites' sum;
/// jest-junit, for one, states no `skipped` there.
fn merge(totals: Attrs, sum: Counts) -> Counts {
    let failed = match (totals.failures, totals.errors) {
        (None, None) => sum.failed,
        (failures, errors) => failures.unwrap_or(0).saturating_add(errors.unwrap_or(0)),
    };
    let skipped = totals.skipped.unwrap_or(sum.skipped);
    let tests = totals.tests.unwrap_or_else(|| {
        sum.passed
            .saturating_add(sum.failed)
            .saturating_add(sum.skipped)
    });
    Counts {
        passed: tests.saturating_sub(failed).saturating_sub(skipped),
        failed,
        skipped,
    }
}

#[cfg(test)]
mod tests;
