use proptest::prelude::*;

use super::*;

fn summary(passed: u32, failed: u32, skipped: u32, format: &'static str) -> Option<Summary> {
    Some(Summary {
        passed,
        failed,
        skipped,
        format,
    })
}

const CARGO_WORKSPACE: &str = r#"   Compiling demo v0.1.0 (/srv/demo)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 4.21s
     Running unittests src/lib.rs (target/debug/deps/demo-3f1c2a9d8e7b6a50)

running 3 tests
test tests::adds ... ok
test tests::slow ... ignored, needs a database
test tests::subtracts ... FAILED

failures:

---- tests::subtracts stdout ----
ok 1 - printed by the test itself
thread 'tests::subtracts' panicked at src/lib.rs:21:9:
assertion `left == right` failed
  left: 1
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::subtracts

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/api.rs (target/debug/deps/api-0a1b2c3d4e5f6a7b)

running 4 tests
test get_health ... ok
test get_users ... ok
test post_user ... ok
test delete_user ... ok

test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s

   Doc-tests demo

running 2 tests
test src/lib.rs - add (line 3) ... ok
test src/lib.rs - sub (line 9) ... ignored

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.15s

error: 1 target failed:
    `--lib`
"#;

#[test]
fn cargo_sums_every_test_binary() {
    assert_eq!(parse_summary(CARGO_WORKSPACE), summary(6, 1, 2, "cargo"));
}

#[test]
fn cargo_with_colour_and_crlf() {
    let output = "test result: \x1b[32mok\x1b[0m. 2 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.01s\r\n";
    assert_eq!(parse_summary(output), summary(2, 0, 0, "cargo"));
}

#[test]
fn cargo_that_did_not_compile_is_not_a_summary() {
    let output = "error[E0425]: cannot find value `x` in this scope\nerror: could not compile `demo` (lib test) due to 1 previous error\n";
    assert_eq!(parse_summary(output), None);
}

const PYTEST_WITH_ERRORS: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.12.3, pytest-8.2.0, pluggy-1.5.0
rootdir: /srv/app
configfile: pyproject.toml
collected 9 items / 1 error

tests/test_api.py ..F.s                                                  [ 55%]
tests/test_db.py .xX                                                     [ 88%]

==================================== ERRORS ====================================
_____________________ ERROR collecting tests/test_auth.py ______________________
ImportError while importing test module '/srv/app/tests/test_auth.py'.
E   ModuleNotFoundError: No module named 'jwt'
=================================== FAILURES ===================================
__________________________________ test_post ___________________________________

    def test_post():
>       assert 1 == 2
E       assert 1 == 2

tests/test_api.py:12: AssertionError
=========================== short test summary info ============================
FAILED tests/test_api.py::test_post - assert 1 == 2
ERROR tests/test_auth.py
===== 1 failed, 5 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 error in 0.42s =====
"#;

#[test]
fn pytest_counts_errors_as_failures() {
    assert_eq!(
        parse_summary(PYTEST_WITH_ERRORS),
        summary(6, 2, 2, "pytest")
    );
}

#[test]
fn pytest_in_any_order_and_with_the_extras() {
    let cases = [
        ("=== 3 errors in 1.20s ===", summary(0, 3, 0, "pytest")),
        ("2 passed, 1 warning in 0.01s", summary(2, 0, 0, "pytest")),
        (
            "==== 4 passed, 2 deselected in 0.05s ====",
            summary(4, 0, 0, "pytest"),
        ),
        (
            "=== 1 passed, 1 rerun, 2 failed in 75.12s (0:01:15) ===",
            summary(1, 2, 0, "pytest"),
        ),
        (
            "==================== 7 passed in 0.33 seconds ====================",
            summary(7, 0, 0, "pytest"),
        ),
        (
            "============================ no tests ran in 0.01s =============================",
            summary(0, 0, 0, "pytest"),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse_summary(line), expected, "{line}");
    }
}

#[test]
fn pytest_in_colour() {
    let line = "\x1b[31m===== \x1b[31m\x1b[1m1 failed\x1b[0m, \x1b[32m2 passed\x1b[0m\x1b[31m in 0.05s\x1b[0m\x1b[31m =====\x1b[0m";
    assert_eq!(parse_summary(line), summary(2, 1, 0, "pytest"));
}

#[test]
fn pytest_sums_several_sessions() {
    let output = "==== 3 passed in 0.10s ====\nmore setup\n==== 1 failed, 2 passed, 1 skipped in 0.20s ====\n";
    assert_eq!(parse_summary(output), summary(5, 1, 1, "pytest"));
}

#[test]
fn lines_that_only_look_like_pytest() {
    for line in [
        "Compiled 3 files in 0.2s",
        "3 files in 0.2s",
        "=== 2 passed ===",
        "==== test session starts ====",
    ] {
        assert_eq!(parse_summary(line), None, "{line}");
    }
}

const TAP_WITH_DIRECTIVES: &str = r#"TAP version 13
1..6
ok 1 - health answers 200
ok 2 - login works
not ok 3 - checkout # TODO payment sandbox not ready
ok 4 - search # SKIP index not built
not ok 5 - profile
  ---
  message: 'expected 200, got 500'
  severity: fail
  ...
ok 6 - logout # skipped: no session
"#;

#[test]
fn tap_with_todo_and_skip() {
    assert_eq!(parse_summary(TAP_WITH_DIRECTIVES), summary(2, 1, 3, "tap"));
}

#[test]
fn tap_short_of_its_plan_counts_the_missing_as_failed() {
    let output = "1..5\nok 1 - a\nok 2 - b\nnot ok 3 - c\nSegmentation fault (core dumped)\n";
    assert_eq!(parse_summary(output), summary(2, 3, 0, "tap"));
}

#[test]
fn tap_blocks_with_the_plan_last_are_summed() {
    let output = "ok 1 - a\nok 2 - b\n1..2\nok 1 - c\nnot ok 2 - d\n1..3\n";
    assert_eq!(parse_summary(output), summary(3, 2, 0, "tap"));
}

#[test]
fn tap_blocks_with_the_plan_first_are_summed() {
    let output = "1..2\nok 1\nok 2\n1..2\nok 1\nnot ok 2\n";
    assert_eq!(parse_summary(output), summary(3, 1, 0, "tap"));
}

#[test]
fn tap_counts_top_level_lines_only() {
    let output = r#"TAP version 13
# Subtest: math
    ok 1 - adds
    not ok 2 - subtracts
    1..2
not ok 1 - math
# Subtest: strings
    ok 1 - concat
    1..1
ok 2 - strings
1..2
"#;
    assert_eq!(parse_summary(output), summary(1, 1, 0, "tap"));
}

#[test]
fn tap_details() {
    // A skip does not excuse a `not ok`; a TODO that passes passed; an
    // escaped `#` is part of the description.
    let output = "1..4\nnot ok 1 # SKIP\nok 2 # TODO flaky\nok 3 - handles \\# SKIP-like titles\nok 4 # skip\n";
    assert_eq!(parse_summary(output), summary(2, 1, 1, "tap"));
    assert_eq!(
        parse_summary("1..0 # SKIP no database\n"),
        summary(0, 0, 0, "tap")
    );
}

#[test]
fn a_stray_ok_is_not_tap() {
    assert_eq!(parse_summary("migrations\nok\ndone\n"), None);
    assert_eq!(parse_summary("okay 1\nok, done\n"), None);
}

#[test]
fn cargo_wins_over_the_tap_lines_its_tests_print() {
    let output = "ok 1 - from a test\n1..1\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
    assert_eq!(parse_summary(output).map(|s| s.format), Some("cargo"));
}

#[test]
fn junit_printed_on_the_output() {
    let output = r#"running the suite
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="api" tests="4" failures="1" errors="0" skipped="1">
  <testcase name="a"/>
</testsuite>
done
"#;
    assert_eq!(parse_summary(output), summary(2, 1, 1, "junit"));
}

#[test]
fn nothing_recognised() {
    assert_eq!(parse_summary(""), None);
    assert_eq!(parse_summary("Starting\nAll good!\n"), None);
}

fn summaryish_line() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "test result: (ok|FAILED)\\. [0-9]{1,12} passed; [0-9]{1,12} failed; [0-9]{1,12} ignored; .*",
        "=* ?[0-9]{1,12} (passed|failed|errors?|skipped|xfailed|xpassed|warnings)(, [0-9]{1,12} [a-z]{1,8}){0,3} in [0-9.]{1,6}s =*",
        "(not )?ok( [0-9]{0,12})?( .*)?( # (SKIP|TODO|skip).*)?",
        "1\\.\\.[0-9]{1,12}",
        " {0,4}TAP version [0-9]{1,3}",
        "<testsuites?( (tests|failures|errors|skipped)=\"[0-9]{0,12}\"){0,4}/?>",
        "</testsuites?>",
        "<testcase>(<failure/>|<skipped/>)?</testcase>",
        "\\x1b\\[[0-9;]{0,6}m.{0,10}",
    ]
}

proptest! {
    #[test]
    fn parse_summary_never_panics(output in ".*") {
        let _ = parse_summary(&output);
    }

    #[test]
    fn parse_summary_never_panics_on_summary_like_lines(
        lines in prop::collection::vec(summaryish_line(), 0..24),
        crlf in any::<bool>(),
    ) {
        let output = lines.join(if crlf { "\r\n" } else { "\n" });
        let _ = parse_summary(&output);
    }
}
