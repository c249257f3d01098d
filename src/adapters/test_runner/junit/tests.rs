use super::*;

fn summary(passed: u32, failed: u32, skipped: u32) -> Option<Summary> {
    Some(Summary {
        passed,
        failed,
        skipped,
        format: "junit",
    })
}

/// pytest's `--junitxml`: a `<testsuites>` without totals.
const PYTEST_SUITES: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="pytest" errors="1" failures="2" skipped="1" tests="10" time="0.42" timestamp="2026-05-01T10:00:00" hostname="ci">
    <testcase classname="tests.test_api" name="test_get" time="0.01"/>
    <testcase classname="tests.test_api" name="test_post" time="0.02">
      <failure message="assert 1 == 2">def test_post(): &gt; assert 1 == 2</failure>
    </testcase>
  </testsuite>
  <testsuite name="integration" errors="0" failures="0" skipped="2" tests="5" time="1.2"/>
</testsuites>
"#;

#[test]
fn several_suites_are_summed() {
    assert_eq!(parse_junit(PYTEST_SUITES), summary(9, 3, 3));
}

#[test]
fn the_totals_win_over_the_suites() {
    // nextest's report.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="7" failures="1" errors="0" uuid="0b4c" timestamp="2026-05-01T10:00:00.000+00:00" time="0.31">
    <testsuite name="demo" tests="4" disabled="0" errors="0" failures="1">
        <testcase name="tests::a" classname="demo" timestamp="2026-05-01T10:00:00.000+00:00" time="0.001"/>
        <testcase name="tests::b" classname="demo" time="0.001"><failure type="test failure">panicked</failure></testcase>
    </testsuite>
    <testsuite name="demo::api" tests="3" disabled="0" errors="0" failures="0"/>
</testsuites>"#;
    assert_eq!(parse_junit(xml), summary(6, 1, 0));
}

#[test]
fn a_total_the_root_leaves_out_comes_from_the_suites() {
    // jest-junit states no `skipped` on `<testsuites>`.
    let xml = r#"<testsuites name="jest tests" tests="5" failures="1" errors="0" time="1.5">
  <testsuite name="api" errors="0" failures="1" skipped="1" timestamp="2026-05-01T10:00:00" time="1.2" tests="3"/>
  <testsuite name="ui" errors="0" failures="0" skipped="0" timestamp="2026-05-01T10:00:00" time="0.3" tests="2"/>
</testsuites>"#;
    assert_eq!(parse_junit(xml), summary(3, 1, 1));
}

#[test]
fn a_single_suite() {
    let xml = r#"<testsuite name="mocha" tests="3" failures="0" errors="1" skipped="1"/>"#;
    assert_eq!(parse_junit(xml), summary(1, 1, 1));
}

#[test]
fn a_suite_without_counts_has_its_cases_counted() {
    let xml = r#"<testsuite name="go">
  <testcase name="a"/>
  <testcase name="b"><failure message="boom"/></testcase>
  <testcase name="c"><error>panic</error></testcase>
  <testcase name="d"><skipped message="later"/></testcase>
  <testcase name="e"><system-out>fine</system-out></testcase>
</testsuite>"#;
    assert_eq!(parse_junit(xml), summary(2, 2, 1));
}

#[test]
fn nested_suites_are_not_counted_twice() {
    let xml = r#"<testsuites>
  <testsuite name="all" tests="3" failures="1">
    <testsuite name="part1" tests="2" failures="1"/>
    <testsuite name="part2" tests="1" failures="0"/>
  </testsuite>
</testsuites>"#;
    assert_eq!(parse_junit(xml), summary(2, 1, 0));
}

#[test]
fn what_is_not_a_report() {
    assert_eq!(parse_junit(""), None);
    assert_eq!(parse_junit("<project><build/></project>"), None);
    assert_eq!(
        parse_junit("<testsuite tests=\"3\"><testcase></testsuite>"),
        None
    );
    assert_eq!(parse_junit("not xml at all"), None);
}
