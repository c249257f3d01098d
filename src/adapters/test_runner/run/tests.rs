use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::*;

fn spec(dir: &Path, command: &str) -> TestSpec {
    TestSpec {
        command: command.to_string(),
        dir: dir.to_path_buf(),
        target_url: "http://127.0.0.1:18081".to_string(),
        env: Vec::new(),
        timeout: Duration::from_secs(30),
        log_path: dir.join("logs/run-1/tests.log"),
    }
}

fn log_of(spec: &TestSpec) -> String {
    fs::read_to_string(&spec.log_path).expect("log written")
}

/// Gone, or a zombie nobody reaped yet (in a container the init process
/// may never reap): either way no longer running.
fn is_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
    }
}

async fn wait_gone(pid: i32) -> bool {
    for _ in 0..100 {
        if is_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn pid_in(dir: &Path, file: &str) -> i32 {
    fs::read_to_string(dir.join(file))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid")
}

const TAP_SCRIPT: &str = r##"echo "TAP version 13"
echo "1..4"
echo "ok 1 - health"
echo "ok 2 - login"
echo "# diagnostics on stderr" >&2
echo "ok 3 - search # SKIP no index"
echo "not ok 4 - checkout # TODO sandbox"
"##;

#[tokio::test]
async fn a_passing_tap_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("t.sh"), TAP_SCRIPT).expect("script");
    let spec = spec(dir.path(), "sh t.sh");
    let run = run_tests(&spec).await.expect("ran");
    assert_eq!((run.passed, run.failed, run.skipped), (2, 0, 2));
    assert_eq!(run.format.as_deref(), Some("tap"));
    assert_eq!(run.exit_code, Some(0));
    assert!(run.passed());
    assert!(
        run.output.contains("# diagnostics on stderr"),
        "{}",
        run.output
    );
    assert_eq!(log_of(&spec), run.output);
    assert!(run.duration_ms < 10_000);
}

#[tokio::test]
async fn stdout_and_stderr_keep_their_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = spec(
        dir.path(),
        "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; sleep 0.1; printf four >&2",
    );
    let run = run_tests(&spec).await.expect("ran");
    assert_eq!(run.output, "one\ntwo\nthree\nfour");
    assert_eq!(log_of(&spec), "one\ntwo\nthree\nfour");
}

#[tokio::test]
async fn a_failing_command_without_a_summary_counts_one_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_tests(&spec(dir.path(), "echo boom >&2; exit 3"))
        .await
        .expect("ran");
    assert_eq!((run.passed, run.failed, run.skipped), (0, 1, 0));
    assert_eq!(run.exit_code, Some(3));
    assert_eq!(run.format, None);
    assert!(!run.passed());
    assert_eq!(run.output, "boom\n");
}

#[tokio::test]
async fn a_passing_command_without_a_summary_invents_no_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_tests(&spec(dir.path(), "echo all good"))
        .await
        .expect("ran");
    assert_eq!((run.passed, run.failed, run.skipped), (0, 0, 0));
    assert_eq!(run.format, None);
    assert!(run.passed());
}

#[tokio::test]
async fn a_failing_cargo_run_is_summed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let command = "echo 'test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out'; \
                   echo 'test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out'; exit 101";
    let run = run_tests(&spec(dir.path(), command)).await.expect("ran");
    assert_eq!((run.passed, run.failed, run.skipped), (4, 2, 1));
    assert_eq!(run.format.as_deref(), Some("cargo"));
    assert_eq!(run.exit_code, Some(101));
}

#[tokio::test]
async fn a_command_not_found_is_not_runnable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = run_tests(&spec(dir.path(), "definitely-not-a-command-4711 --all"))
        .await
        .expect_err("not runnable");
    match &err {
        TestRunError::NotRunnable { command, reason } => {
            assert_eq!(command, "definitely-not-a-command-4711 --all");
            assert!(reason.contains("not found"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("definitely-not-a-command-4711 --all")
    );
}

#[tokio::test]
async fn a_script_without_permission_is_not_runnable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("run-tests.sh");
    fs::write(&script, "echo hi\n").expect("script");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = run_tests(&spec(dir.path(), "./run-tests.sh"))
        .await
        .expect_err("not runnable");
    match err {
        TestRunError::NotRunnable { reason, .. } => {
            assert!(
                reason.to_lowercase().contains("permission denied"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_missing_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = spec(&dir.path().join("gone"), "true");
    spec.log_path = dir.path().join("tests.log");
    let err = run_tests(&spec).await.expect_err("no dir");
    assert!(matches!(err, TestRunError::DirMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("`true`") && message.contains("gone"),
        "{message}"
    );
}

#[tokio::test]
async fn a_file_is_not_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    fs::write(&file, "").expect("file");
    let mut spec = spec(&file, "true");
    spec.log_path = dir.path().join("tests.log");
    let err = run_tests(&spec).await.expect_err("not a dir");
    assert!(matches!(err, TestRunError::DirMissing { .. }), "{err:?}");
}

#[tokio::test]
async fn a_timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = spec(
        dir.path(),
        "echo started; sleep 30 & echo $! > sleeper.pid; wait",
    );
    spec.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let run = run_tests(&spec).await.expect("ran");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.exit_code, None);
    assert_eq!(run.failed, 1);
    assert!(!run.passed());
    assert!(run.output.starts_with("started\n"), "{}", run.output);
    assert!(
        run.output.contains("timed out after 0.2 s"),
        "{}",
        run.output
    );
    assert!(log_of(&spec).contains("timed out after 0.2 s"));
    assert!(
        wait_gone(pid_in(dir.path(), "sleeper.pid")).await,
        "the group's sleep survived"
    );
}

#[tokio::test]
async fn a_timeout_kills_what_ignores_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = spec(
        dir.path(),
        "trap '' TERM; sleep 30 & echo $! > sleeper.pid; wait",
    );
    spec.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let run = run_tests(&spec).await.expect("ran");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.exit_code, None);
    assert!(
        wait_gone(pid_in(dir.path(), "sleeper.pid")).await,
        "the group's sleep survived"
    );
}

#[tokio::test]
async fn what_the_command_leaves_running_is_ended_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The background sleep holds the output pipes open.
    let spec = spec(dir.path(), "sleep 30 & echo $! > sleeper.pid; echo done");
    let started = Instant::now();
    let run = run_tests(&spec).await.expect("ran");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.output, "done\n");
    assert!(wait_gone(pid_in(dir.path(), "sleeper.pid")).await);
}

#[tokio::test]
async fn an_abandoned_run_kills_its_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = spec(dir.path(), "sleep 30 & echo $! > sleeper.pid; wait");
    let cut_short = tokio::time::timeout(Duration::from_millis(300), run_tests(&spec)).await;
    assert!(cut_short.is_err());
    assert!(wait_gone(pid_in(dir.path(), "sleeper.pid")).await);
}

#[tokio::test]
async fn the_target_url_and_the_env_reach_the_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = spec(dir.path(), "echo \"$DEPLOYFLOW_TARGET_URL $APP_MODE $PWD\"");
    spec.env = vec![
        ("APP_MODE".to_string(), "test".to_string()),
        // Configuration cannot point the tests at another target.
        (
            "DEPLOYFLOW_TARGET_URL".to_string(),
            "http://elsewhere".to_string(),
        ),
    ];
    let run = run_tests(&spec).await.expect("ran");
    let pwd = dir.path().canonicalize().expect("canonical");
    assert_eq!(
        run.output,
        format!("http://127.0.0.1:18081 test {}\n", pwd.display())
    );
}

#[tokio::test]
async fn stdin_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_tests(&spec(dir.path(), "cat; echo after"))
        .await
        .expect("ran");
    assert_eq!(run.output, "after\n");
}

#[tokio::test]
async fn a_large_output_is_logged_whole_and_kept_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = "test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out";
    let spec = spec(
        dir.path(),
        &format!("echo '{summary}'; yes abcdefghi | head -c 600000"),
    );
    let run = run_tests(&spec).await.expect("ran");
    let logged = fs::metadata(&spec.log_path).expect("log").len();
    assert_eq!(logged, 600_000 + summary.len() as u64 + 1);
    // The kept tail, marked as cut for the redactor.
    let kept = run
        .output
        .strip_prefix(crate::adapters::secrets::CUT)
        .expect("marked as cut");
    assert_eq!(kept.len(), 256 * 1024);
    assert!(run.output.ends_with("abcdefghi\n"));
    // The summary fell out of the kept tail but was read on the way.
    assert_eq!((run.passed, run.format.as_deref()), (7, Some("cargo")));
}

#[tokio::test]
async fn a_junit_report_the_command_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let command = "mkdir -p build/test-results && \
                   echo '<testsuite tests=\"5\" failures=\"1\" skipped=\"1\"/>' > build/test-results/TEST-api.xml; \
                   echo 'BUILD FAILED'; exit 1";
    let run = run_tests(&spec(dir.path(), command)).await.expect("ran");
    assert_eq!((run.passed, run.failed, run.skipped), (3, 1, 1));
    assert_eq!(run.format.as_deref(), Some("junit"));
}

#[tokio::test]
async fn a_signal_is_named_in_the_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_tests(&spec(dir.path(), "echo x; kill -9 $$"))
        .await
        .expect("ran");
    assert_eq!(run.exit_code, None);
    assert_eq!(run.failed, 1);
    assert!(run.output.contains("killed by signal 9"), "{}", run.output);
}

#[tokio::test]
async fn a_process_that_left_the_group_is_not_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `setsid` takes the sleep out of the group, still holding the pipes.
    // The command ends only once it has left (its session is its own pid,
    // field 6 of /proc/PID/stat): on a loaded machine a fixed wait could end
    // first, and the group's kill took the sleep with it.
    let spec = spec(
        dir.path(),
        "setsid sleep 30 & p=$!; echo $p > escaped.pid; \
         while [ \"$(cut -d' ' -f6 /proc/$p/stat)\" != \"$p\" ]; do sleep 0.05; done; echo done",
    );
    let started = Instant::now();
    let run = run_tests(&spec).await;
    let escaped = Pid::from_raw(pid_in(dir.path(), "escaped.pid"));
    let _ = nix::sys::signal::kill(escaped, Signal::SIGKILL);
    let run = run.expect("ran");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.exit_code, Some(0));
    assert!(run.output.starts_with("done\n"), "{}", run.output);
    assert!(
        run.output.contains("the output was still open"),
        "{}",
        run.output
    );
}
