//! The evidence a person reads first: the app's own words out of its
//! output, the tests that failed out of a runner's, and the one sentence
//! that says why a fix loop ended without a healthy, passing green. Pure
//! text in, text out: the backends' diagnoses and the flow's reasons both
//! go through here, so a diagnosis and the ending it leads to agree.

use super::phase::FixCause;
use crate::events::Finding;

/// Lines that say something went wrong, in the words runtimes and apps
/// use for it, lower-cased.
const ERROR_WORDS: &[&str] = &[
    "error",
    "exception",
    "panicked",
    "fatal",
    "traceback",
    "not found",
    "no such file",
    "denied",
    "refused",
    "cannot",
    "can't",
    "could not",
    "failed",
    "unable",
    "invalid",
    "missing",
    "abort",
    "segmentation fault",
    "killed",
];

/// Lines that only narrate a process ending (gunicorn, uvicorn, node,
/// supervisors): never the reason, even when they are the last.
const NARRATION: &[&str] = &[
    "shutting down",
    "handling signal",
    "worker exiting",
    "stopping",
    "exiting",
    "note: run with `rust_backtrace=1`",
    "press ctrl+c",
];

/// The line of `output` that best says what went wrong, in the app's own
/// words: the last line naming an error (for a Python traceback, its final
/// `KeyError: ...` line; for a Rust panic, the `panicked at` line and its
/// message), else the last line that is not narration. None for output
/// with nothing in it.
pub fn app_words(output: &str) -> Option<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("---"))
        .collect();
    let narration = |line: &str| {
        let lower = line.to_lowercase();
        NARRATION.iter().any(|n| lower.contains(n))
    };
    let names_an_error = |line: &str| {
        let lower = line.to_lowercase();
        ERROR_WORDS.iter().any(|w| lower.contains(w))
    };
    let at = lines
        .iter()
        .rposition(|line| names_an_error(line) && !narration(line))
        .or_else(|| lines.iter().rposition(|line| !narration(line)))?;
    let line = lines[at];
    // A traceback's header says only that one follows; a panic's location
    // line is followed by its message (Rust since 1.73): say both.
    let said = match lines.get(at + 1) {
        Some(next) if line.contains("panicked at") && !names_an_error(next) => {
            format!("{line} {next}")
        }
        _ => line.to_string(),
    };
    Some(shorten(&said, 240))
}

/// A diagnosis' first line: the instance's state, then what it said
/// (`app_words` of its output), so a person reads the app's reason before
/// the health probe's view of it.
pub fn lead(state: &str, running: bool, output: &str) -> String {
    match app_words(output) {
        Some(words) if running => format!("{state}{LAST_SAID}{words}"),
        Some(words) => format!("{state}: {words}"),
        None => state.to_string(),
    }
}

/// What kind of trouble a diagnosis shows, for the fix loop's triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Something else holds the port the app binds.
    PortInUse,
    /// The app could not reach a service it needs (refused, timed out,
    /// not resolvable): it may still be coming up.
    DependencyNotUp,
    /// The app ended by itself.
    Crashed,
    /// The app runs but did not answer its health check in time.
    NotAnswering,
}

/// How runtimes and engines say a port is taken.
const PORT_IN_USE: &[&str] = &[
    "address already in use",
    "address in use",
    "eaddrinuse",
    "port is already allocated",
];

/// How apps say a service they need is not there (yet).
const DEPENDENCY_DOWN: &[&str] = &[
    "connection refused",
    "timed out",
    "timeout",
    "could not connect",
    "couldn't connect",
    "failed to connect",
    "name or service not known",
    "temporary failure in name resolution",
    "no route to host",
    "connection reset",
    "is the server running",
];

/// The kind of trouble in a diagnosis the backends and the health check
/// wrote (`lead`'s first line, then the rest): only the app's own words
/// count for a dependency, so the health probe's "connection refused"
/// to green itself is never taken for one.
pub fn classify(diagnosis: &str) -> Failure {
    let lower = diagnosis.to_lowercase();
    if PORT_IN_USE.iter().any(|p| lower.contains(p)) {
        return Failure::PortInUse;
    }
    let head = headline(diagnosis);
    let said = said(head).unwrap_or_default().to_lowercase();
    if DEPENDENCY_DOWN.iter().any(|p| said.contains(p)) {
        return Failure::DependencyNotUp;
    }
    if ended(head) {
        Failure::Crashed
    } else {
        Failure::NotAnswering
    }
}

/// What the app said, out of a diagnosis' first line as `lead` wrote it.
pub fn said(headline: &str) -> Option<&str> {
    if let Some((_, words)) = headline.split_once(LAST_SAID) {
        return Some(words);
    }
    if !ended(headline) {
        return None;
    }
    headline.split_once(": ").map(|(_, words)| words)
}

/// Whether a diagnosis' first line says the instance ended.
fn ended(headline: &str) -> bool {
    !headline.contains("is running")
        && ["exited", "exit code", "killed", "ended"]
            .iter()
            .any(|w| headline.contains(w))
}

/// Between a running instance's state and what it last said.
const LAST_SAID: &str = "; it last said: ";

/// The first line of a diagnosis: the backends put what the app said
/// there, ahead of the health probe's view.
pub fn headline(diagnosis: &str) -> &str {
    diagnosis
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
}

/// The tests a runner's output names as failed, each once, in order:
/// TAP's `not ok N - name`, pytest's `FAILED path::test`, Go's
/// `--- FAIL: Name`, cargo's `test name ... FAILED`, jest's `✕ name`.
pub fn failing_tests(output: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in output.lines().map(str::trim) {
        let name = if let Some(rest) = line.strip_prefix("not ok") {
            // `not ok 3 - greet # comment`: the name after the number.
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            rest.split(" # ").next().unwrap_or(rest).trim().to_string()
        } else if let Some(rest) = line.strip_prefix("FAILED ") {
            rest.split(" - ").next().unwrap_or(rest).trim().to_string()
        } else if let Some(rest) = line.strip_prefix("--- FAIL: ") {
            rest.split(' ').next().unwrap_or(rest).to_string()
        } else if let Some(rest) = line
            .strip_prefix("test ")
            .and_then(|r| r.strip_suffix(" ... FAILED"))
        {
            rest.to_string()
        } else if let Some(rest) = line.strip_prefix("✕ ") {
            rest.split(" (").next().unwrap_or(rest).to_string()
        } else {
            continue;
        };
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// What a fix loop could not mend, in one clause: green's own words when
/// it never came up, the tests by name when they failed, the worst
/// finding when the review asked for fixes.
pub fn unfixed(cause: &FixCause) -> String {
    match cause {
        FixCause::Unhealthy { diagnosis } => {
            format!("green never became healthy: {}", headline(diagnosis))
        }
        FixCause::TestsFailed {
            failed,
            exit_code,
            output_tail,
        } => {
            let names = failing_tests(output_tail);
            let count = if *failed > 0 {
                counted(u64::from(*failed), "test", "tests")
            } else if !names.is_empty() {
                counted(names.len() as u64, "test", "tests")
            } else {
                match exit_code {
                    Some(code) => return format!("the tests exited with status {code}"),
                    None => return "the tests did not finish".to_string(),
                }
            };
            match names.as_slice() {
                [] => format!("{count} failed against green"),
                names => format!("{count} failed against green: {}", listed(names, 5)),
            }
        }
        FixCause::ReviewAsked { round, findings } => match worst(findings) {
            Some(finding) => format!(
                "review round {round} asked for fixes: {}",
                described(finding)
            ),
            None => format!("review round {round} asked for fixes"),
        },
    }
}

/// The most severe finding, the first of its severity.
pub fn worst(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().min_by_key(|f| f.severity)
}

/// A finding as a person reads it: where, then what.
pub fn described(finding: &Finding) -> String {
    let place = match (&finding.file, finding.line) {
        (Some(file), Some(line)) => format!(" at {file}:{line}"),
        (Some(file), None) => format!(" in {file}"),
        _ => String::new(),
    };
    let severity: &'static str = finding.severity.into();
    format!(
        "{severity}{place}: {}",
        shorten(headline(&finding.message), 200)
    )
}

/// `1 test`, `3 tests`: a count with the word that agrees with it.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// At most `max` names, then how many more.
fn listed(names: &[String], max: usize) -> String {
    let shown = names[..names.len().min(max)].join(", ");
    match names.len().saturating_sub(max) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// `text` cut to `max` characters on a character boundary, marked.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Severity;

    #[test]
    fn a_python_traceback_is_its_last_line() {
        let gunicorn = "[2026-12-01 10:00:00 +0000] [7] [INFO] Booting worker with pid: 7\n\
            Traceback (most recent call last):\n  File \"/app/app.py\", line 4, in <module>\n\
            \x20   SECRET = os.environ[\"SITE_SECRET\"]\nKeyError: 'SITE_SECRET'\n\
            [2026-12-01 10:00:00 +0000] [7] [INFO] Worker exiting (pid: 7)\n\
            [2026-12-01 10:00:00 +0000] [1] [INFO] Shutting down: Master\n";
        assert_eq!(
            app_words(gunicorn).as_deref(),
            Some("KeyError: 'SITE_SECRET'")
        );
    }

    #[test]
    fn a_rust_panic_is_its_location_and_message() {
        let out = "listening\nthread 'main' panicked at src/main.rs:9:5:\nno config at /etc/site.conf\n\
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            app_words(out).as_deref(),
            Some("thread 'main' panicked at src/main.rs:9:5: no config at /etc/site.conf")
        );
    }

    #[test]
    fn a_busybox_message_without_error_words_is_the_last_line() {
        assert_eq!(
            app_words("httpd: bind: Address in use\n").as_deref(),
            Some("httpd: bind: Address in use")
        );
        assert_eq!(
            app_words("starting\n/etc/site.conf not found\n").as_deref(),
            Some("/etc/site.conf not found")
        );
        assert_eq!(app_words("\n  \n"), None);
    }

    #[test]
    fn what_lead_writes_said_and_classify_read_back() {
        let crashed = lead("the process exited with status 1", false, "KeyError: 'X'\n");
        assert_eq!(said(&crashed), Some("KeyError: 'X'"));
        assert_eq!(classify(&crashed), Failure::Crashed);
        let running = lead("the process is running", true, "db: connection refused\n");
        assert_eq!(said(&running), Some("db: connection refused"));
        // The health check puts its view first for a running instance.
        let diagnosis =
            format!("no 2xx within 30 s; GET /health failed: Connection refused; {running}\n...");
        assert_eq!(classify(&diagnosis), Failure::DependencyNotUp);
        // The probe's own refusal is not a dependency's.
        let silent = "the process exited with status 3\nthe instance is not running; GET /health failed: Connection refused";
        assert_eq!(classify(silent), Failure::Crashed);
        let quiet = "no 2xx within 30 s; GET /health answered 503; the process is running";
        assert_eq!(classify(quiet), Failure::NotAnswering);
        let taken = lead(
            "container web exited, exit code 1",
            false,
            "listen tcp :8080: bind: address already in use",
        );
        assert_eq!(classify(&taken), Failure::PortInUse);
    }

    #[test]
    fn failing_tests_are_named_from_each_runner() {
        let out = "ok 1 - health\nnot ok 2 - greet # expected hello\nnot ok 3 - slow\n\
            FAILED tests/test_app.py::test_index - AssertionError: 500\n\
            --- FAIL: TestGreet (0.00s)\ntest api::answers ... FAILED\nnot ok 2 - greet\n";
        assert_eq!(
            failing_tests(out),
            [
                "greet",
                "slow",
                "tests/test_app.py::test_index",
                "TestGreet",
                "api::answers"
            ]
        );
    }

    #[test]
    fn the_unfixed_clause_agrees_in_number_and_leads_with_the_evidence() {
        let one = FixCause::TestsFailed {
            failed: 1,
            exit_code: Some(1),
            output_tail: "not ok 2 - greet\n".into(),
        };
        assert_eq!(unfixed(&one), "1 test failed against green: greet");
        let crashed = FixCause::Unhealthy {
            diagnosis: "the process exited with status 1: KeyError: 'SITE_SECRET'\nthe rest".into(),
        };
        assert_eq!(
            unfixed(&crashed),
            "green never became healthy: the process exited with status 1: KeyError: 'SITE_SECRET'"
        );
        let finding = |severity, message: &str| Finding {
            severity,
            requirement: None,
            file: Some("app.py".into()),
            line: Some(12),
            message: message.into(),
        };
        let asked = FixCause::ReviewAsked {
            round: 2,
            findings: vec![
                finding(Severity::Low, "naming"),
                finding(Severity::Critical, "the password is logged"),
            ],
        };
        assert_eq!(
            unfixed(&asked),
            "review round 2 asked for fixes: critical at app.py:12: the password is logged"
        );
        assert_eq!(counted(2, "test", "tests"), "2 tests");
    }
}
