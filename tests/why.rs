//! Why a deployment ended, in one sentence built from the evidence: the
//! app's own words when green never came up, the failing tests by name,
//! the reviewer's worst finding. Shown where people look first: the end
//! of `deploy`, the top of `show`, of the report and of the dashboard's
//! page, and `history --json`'s `reason`.
#![allow(clippy::disallowed_methods)]

mod common;

use common::http::request;
use common::scenario::{Knobs, Scenario, text};

fn knobs(env: &str) -> Knobs {
    Knobs {
        env: env.to_string(),
        ..Knobs::default()
    }
}

/// Deploys `label` (it fails); its reason, checked everywhere it is shown.
fn failed_because(s: &Scenario, label: &str) -> String {
    let out = s.deploy(label);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let reason = s.last_reason();
    assert!(!reason.is_empty());
    // The deploy's last line, and the line under `show`'s header.
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        printed.trim_end().lines().last(),
        Some(format!("why: {reason}").as_str()),
        "{printed}"
    );
    let id = s.last_id();
    let shown = text(&s.cli(&["show", &id]));
    let mut lines = String::from_utf8_lossy(&s.cli(&["show", &id]).stdout)
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter();
    lines.next();
    assert_eq!(lines.next(), Some(format!("why: {reason}")), "{shown}");
    // The timeline for people leaves the bookkeeping out; --json keeps it.
    assert!(!shown.contains("effect_started"), "{shown}");
    assert!(
        s.events(&id).iter().any(|e| e["kind"] == "effect_started"),
        "show --json lost the effects"
    );
    // No Rust names in what people read.
    for rust in [
        "RolledBack",
        "GaveUp",
        "Applied)",
        "Driver ->",
        "FixesNeeded",
    ] {
        assert!(!shown.contains(rust), "{rust} in {shown}");
    }
    let report = text(&s.cli(&["report", &id]));
    assert!(report.contains(&format!("**Why:** {reason}")), "{report}");
    let (status, _, page) = request(s.api, "GET", &format!("/deployments/{id}/live"), &[], "");
    assert_eq!(status, 200);
    let escaped = reason.replace('\'', "&#39;").replace('"', "&quot;");
    assert!(
        page.contains(&reason) || page.contains(&escaped),
        "the dashboard's page lacks the reason: {page}"
    );
    reason
}

#[test]
fn a_release_that_crashes_at_start_is_said_to_in_its_own_words() {
    let s = Scenario::new().with_v1();
    s.release("v2", &knobs(", HELLO_CRASH_AT_START = \"1\""));
    let reason = failed_because(&s, "v2");
    assert!(
        reason.starts_with(
            "rolled back: green never became healthy: the process exited with status 1: \
             hello: crash requested by HELLO_CRASH_AT_START; the fix loop could not mend it ("
        ),
        "{reason}"
    );
    // Each diagnosis leads with what the app said, not the probe.
    let diagnosis = s.payloads(&s.last_id(), "green_unhealthy")[0]["diagnosis"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        diagnosis.starts_with("the process exited with status 1: hello: crash requested"),
        "{diagnosis}"
    );
}

#[test]
fn failing_tests_are_named_in_the_reason() {
    let s = Scenario::new().with_v1();
    s.release("v2", &knobs(", HELLO_FAIL_TEST = \"greet\""));
    let reason = failed_because(&s, "v2");
    assert!(
        reason
            .starts_with("rolled back: 1 test failed against green: REQ-3 /greet greets by name;"),
        "{reason}"
    );
}

#[test]
fn a_reviewers_critical_finding_is_the_reason() {
    let s = Scenario::new().with_v1();
    let agent = s.dir.path().join("agent.sh");
    std::fs::write(
        &agent,
        "cat > /dev/null\necho '{\"verdict\":\"fixes_needed\",\"summary\":\"not yet\",\"findings\":[\
         {\"severity\":\"low\",\"message\":\"a long line\"},\
         {\"severity\":\"critical\",\"file\":\"src/app.py\",\"line\":12,\"message\":\"the admin password is admin\"}]}'\n",
    )
    .expect("write the agent");
    s.release(
        "v2",
        &Knobs {
            review: format!(
                "trio = [\"tests\", \"agent\"]\n\n\
                 [members.agent]\nkind = \"command\"\ncommand = \"sh '{}'\"\ntimeout_s = 30\n",
                agent.display()
            ),
            ..Knobs::default()
        },
    );
    let reason = failed_because(&s, "v2");
    assert!(
        reason.contains("asked for fixes: critical at src/app.py:12: the admin password is admin"),
        "{reason}"
    );
}
