//! TAP (the Test Anything Protocol): `ok`/`not ok` lines, `# SKIP` and
//! `# TODO` directives, and the plan `1..N`, which may come first or last.

use std::sync::LazyLock;

use regex::Regex;

use super::counts::{Counts, count};

static TEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(not )?ok(?:\s+(\d+))?(?:\s|$)(.*)$").expect("TAP test pattern")
});
static PLAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^1\.\.(\d+)\s*(?:#.*)?$").expect("TAP plan pattern"));
static VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^TAP version \d+\s*$").expect("TAP version pattern"));
// An escaped `\#` belongs to the description, not a directive.
static DIRECTIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:^|[^\\])#\s*(skip|todo)").expect("TAP directive pattern"));

/// The TAP blocks of one output: a command may run several TAP producers
/// one after another, each with its own numbering and plan.
#[derive(Debug, Default)]
pub(super) struct TapTally {
    done: Counts,
    block: Block,
    /// What makes the output TAP: a plan, a numbered test, or a version
    /// line and a test. A bare `ok` line alone is too common to count.
    plan_seen: bool,
    numbered_seen: bool,
    version_seen: bool,
    test_seen: bool,
}

#[derive(Debug, Default)]
struct Block {
    counts: Counts,
    reported: u32,
    plan: Option<u32>,
    last_number: Option<u32>,
    /// A plan came after tests: it ended the block.
    closed: bool,
}

impl Block {
    fn is_empty(&self) -> bool {
        self.reported == 0 && self.plan.is_none()
    }

    /// Tests the plan announced that never reported ran into a crash or a
    /// bail-out: they count as failed.
    fn counts(&self) -> Counts {
        let missing = self.plan.unwrap_or(0).saturating_sub(self.reported);
        let mut counts = self.counts;
        counts.failed = counts.failed.saturating_add(missing);
        counts
    }
}

impl TapTally {
    /// One line as printed, indentation kept: indented lines are subtests,
    /// already summed up by their parent's line.
    pub fn line(&mut self, line: &str) {
        if VERSION.is_match(line) {
            self.version_seen = true;
            self.next_block();
        } else if let Some(caps) = PLAN.captures(line) {
            self.plan(count(&caps[1]));
        } else if let Some(caps) = TEST.captures(line) {
            let number = caps.get(2).map(|n| count(n.as_str()));
            self.test(
                caps.get(1).is_none(),
                number,
                caps.get(3).map_or("", |m| m.as_str()),
            );
        }
    }

    pub fn finish(mut self) -> Option<Counts> {
        self.next_block();
        let recognised =
            self.plan_seen || self.numbered_seen || (self.version_seen && self.test_seen);
        recognised.then_some(self.done)
    }

    fn next_block(&mut self) {
        if !self.block.is_empty() {
            self.done.add(self.block.counts());
        }
        self.block = Block::default();
    }

    fn plan(&mut self, planned: u32) {
        if self.block.plan.is_some() || self.block.closed {
            self.next_block();
        }
        self.block.closed = self.block.reported > 0;
        self.block.plan = Some(planned);
        self.plan_seen = true;
    }

    fn test(&mut self, ok: bool, number: Option<u32>, rest: &str) {
        let renumbered =
            matches!((number, self.block.last_number), (Some(n), Some(last)) if n <= last);
        if self.block.closed || renumbered {
            self.next_block();
        }
        let block = &mut self.block;
        block.reported = block.reported.saturating_add(1);
        block.last_number = number.or(block.last_number);
        let slot = match (ok, directive(rest)) {
            // An expected failure; one that passes anyway passed.
            (false, Some(Directive::Todo)) => &mut block.counts.skipped,
            (true, Some(Directive::Skip)) => &mut block.counts.skipped,
            (true, _) => &mut block.counts.passed,
            // As TAP::Parser has it: a skip does not excuse a `not ok`.
            (false, _) => &mut block.counts.failed,
        };
        *slot = slot.saturating_add(1);
        self.test_seen = true;
        self.numbered_seen |= number.is_some();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Skip,
    Todo,
}

fn directive(rest: &str) -> Option<Directive> {
    let caps = DIRECTIVE.captures(rest)?;
    if caps[1].eq_ignore_ascii_case("skip") {
        Some(Directive::Skip)
    } else {
        Some(Directive::Todo)
    }
}
