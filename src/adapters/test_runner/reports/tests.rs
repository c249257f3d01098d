use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn summary(passed: u32, failed: u32, skipped: u32) -> Option<Summary> {
    Some(Summary {
        passed,
        failed,
        skipped,
        format: "junit",
    })
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, text).expect("write");
}

fn age(path: &Path, by: Duration) {
    let then = SystemTime::now() - by;
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(then))
        .expect("set mtime");
}

const ONE_FAILURE: &str = r#"<testsuite tests="2" failures="1"/>"#;

#[test]
fn finds_a_report_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let since = SystemTime::now();
    write(&dir.path().join("reports/api-junit.xml"), ONE_FAILURE);
    assert_eq!(find_junit_report(dir.path(), since), summary(1, 1, 0));
}

#[test]
fn finds_a_report_in_the_known_directories() {
    for place in [
        "build/test-results/test/TEST-api.xml",
        "target/nextest/ci/report.xml",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let since = SystemTime::now();
        write(&dir.path().join(place), ONE_FAILURE);
        assert_eq!(
            find_junit_report(dir.path(), since),
            summary(1, 1, 0),
            "{place}"
        );
    }
}

#[test]
fn ignores_old_hidden_and_unrelated_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let since = SystemTime::now();
    let old = dir.path().join("junit.xml");
    write(&old, ONE_FAILURE);
    age(&old, Duration::from_secs(3600));
    write(&dir.path().join(".cache/junit.xml"), ONE_FAILURE);
    write(&dir.path().join("node_modules/x/junit.xml"), ONE_FAILURE);
    write(&dir.path().join("pom.xml"), ONE_FAILURE);
    write(&dir.path().join("target/debug/junit.xml"), ONE_FAILURE);
    assert_eq!(find_junit_report(dir.path(), since), None);
}

#[test]
fn skips_a_report_that_does_not_parse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let since = SystemTime::now();
    write(&dir.path().join("a-junit.xml"), "<testsuite tests=\"1\">");
    write(&dir.path().join("b-junit.xml"), ONE_FAILURE);
    assert_eq!(find_junit_report(dir.path(), since), summary(1, 1, 0));
}
