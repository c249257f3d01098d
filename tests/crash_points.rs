//! The control plane made to die (an abort, not a shutdown) at each crash
//! point: after every event kind is appended and before every side effect.
//! Each time it is started again, and the deployment must end as an
//! uncrashed one does, with no request failed, the log whole, and exactly
//! one release running.

mod common;

use std::time::{Duration, Instant};

use common::forge::{FakeForge, REPO, TOKEN, TOKEN_ENV};
use common::git::{commit_all, completing_scenario, git, release_in_repo};
use common::scenario::{
    Knobs, Load, Scenario, plant_private_key, running_releases, stop_following, text,
};

/// The kind of deployment a crash point needs to be reached.
#[derive(Clone, Copy, Debug)]
enum Case {
    /// A healthy release: promoted.
    Healthy,
    /// One that never starts: rolled back.
    Broken,
    /// One with a private key: returned to development.
    Flawed,
    /// Waits at the manual gate, then approved.
    Approved,
    /// Waits at the manual gate, then rejected.
    Rejected,
    /// Waits at the manual gate, then aborted.
    Aborted,
    /// Its requirements are missing: rejected at prepare.
    Missing,
    /// Analysed before and after the switch: promoted.
    Analysed,
    /// A canary through a weight, a pause, an analysis and a weight: promoted.
    Canary,
    /// A canary whose analysis fails at 30 %: rolled back, the split withdrawn.
    CanaryFailed,
}

/// The canary's steps; `{result}` is what its analysis measures.
fn canary(result: &str) -> String {
    format!(
        r#"
[analysis.smoke]
interval_s = 1
count = 2
[[analysis.smoke.metrics]]
name = "success"
provider = "exec"
command = "echo {result}"
success = "result >= 0.99"

[rollout]
strategy = "canary"
steps = [ {{ set_weight = 30 }}, {{ pause_s = 1 }}, {{ analysis = "smoke" }}, {{ set_weight = 60 }} ]
"#
    )
}

/// Three measurements of one metric before the switch and three after.
const ANALYSED: &str = r#"
[analysis.smoke]
interval_s = 1
count = 3
[[analysis.smoke.metrics]]
name = "success"
provider = "exec"
command = "echo 1"
success = "result >= 0.99"

[rollout]
pre_promotion = ["smoke"]
post_promotion = ["smoke"]
scale_down_delay_s = 2
"#;

impl Case {
    fn outcome(self) -> (&'static str, &'static str) {
        match self {
            Case::Healthy | Case::Approved | Case::Analysed | Case::Canary => ("promoted", "v2"),
            Case::Broken | Case::Rejected | Case::CanaryFailed => ("rolled_back", "v1"),
            Case::Flawed => ("returned", "v1"),
            Case::Aborted => ("aborted", "v1"),
            Case::Missing => ("rejected", "v1"),
        }
    }
}

fn crash_at(point: &str, case: Case) {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    s.kill_server();
    s.start_server_with(&[("FAILPOINTS", &format!("{point}=return"))]);
    let load = Load::start(s.listen);

    let gated = matches!(case, Case::Approved | Case::Rejected | Case::Aborted);
    let knobs = match case {
        Case::Broken => Knobs {
            env: ", HELLO_CRASH_AT_START = \"1\"".into(),
            ..Knobs::default()
        },
        _ if gated => Knobs::gated(),
        Case::Analysed => Knobs {
            review: ANALYSED.into(),
            ..Knobs::default()
        },
        Case::Canary | Case::CanaryFailed => Knobs {
            review: canary(if matches!(case, Case::Canary) {
                "1"
            } else {
                "0"
            }),
            ..Knobs::default()
        },
        _ => Knobs::default(),
    };
    let code = s.release("v2", &knobs);
    match case {
        Case::Flawed => plant_private_key(&code),
        Case::Missing => std::fs::remove_file(code.join("REQUIREMENTS.md")).expect("remove"),
        _ => {}
    }
    let deploy = s.deploy_in_background("v2");
    if gated
        && !point.starts_with("before_")
        && !point.contains("manually")
        && point != "after_aborted"
    {
        // The point comes before the gate: nothing to say at the gate yet.
    } else if gated {
        let id = s.wait_in_progress("manual_gate");
        let command = match case {
            Case::Approved => vec!["approve", &id],
            Case::Rejected => vec!["reject", &id, "--reason", "no"],
            _ => vec!["abort", &id, "--reason", "stop"],
        };
        let _ = s.cli(&command); // may see the control plane die
    }
    assert!(
        s.server_ended_within(Duration::from_secs(60)),
        "{point} was never reached in a {case:?} deployment"
    );
    stop_following(deploy);
    assert!(
        s.serve_log().contains(&format!("crash point {point}")),
        "{}",
        s.serve_log()
    );

    s.start_server();
    let id = s.last_id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = s.json(&["show", &id]);
        if shown["deployment"]["status"] != "in_progress" {
            break;
        }
        // A gated deployment that crashed before its gate waits there again.
        if shown["state"]["awaiting_approval"] == true {
            let command = match case {
                Case::Approved => vec!["approve", &id],
                Case::Rejected => vec!["reject", &id, "--reason", "no"],
                _ => vec!["abort", &id, "--reason", "stop"],
            };
            let _ = s.cli(&command);
        }
        assert!(
            Instant::now() < deadline,
            "{point}: the deployment did not end"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let (status, serving) = case.outcome();
    assert_eq!(
        s.json(&["show", &id])["deployment"]["status"],
        status,
        "{point}"
    );
    assert_eq!(
        s.serving().as_deref(),
        Some(format!("hello from {serving}").as_str()),
        "{point}"
    );
    if let Case::Analysed = case {
        // Each measurement taken before the crash counts once: every run
        // has its three, each index once.
        let rows = s.json(&["analysis", &id]);
        let rows = rows.as_array().expect("measurements");
        for (run, phase) in [(1, "pre_promotion"), (2, "post_promotion")] {
            let indices: Vec<u64> = rows
                .iter()
                .filter(|r| r["run"] == run && r["phase"] == phase)
                .filter_map(|r| r["index"].as_u64())
                .collect();
            assert_eq!(indices, [0, 1, 2], "{point}: run {run}: {rows:?}");
        }
    }
    let load = load.finish();
    assert!(load.failures.is_empty(), "{point}: {:?}", load.failures);
    s.kill_server();
    let verify = s.cli(&["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{point}: {}", text(&verify));
    let running = running_releases(s.dir.path()).len();
    assert_eq!(running, 1, "{point}: {running} releases running");
}

fn each(points: &[&str], case: Case) {
    for point in points {
        crash_at(point, case);
    }
}

#[test]
fn crashes_along_a_healthy_deployment() {
    each(
        &[
            "after_deployment_requested",
            "after_effect_started",
            "after_inputs_validated",
            "after_green_deploy_intended",
            "after_green_started",
            "after_green_healthy",
            "after_test_run_intended",
            "after_test_run_completed",
            "after_review_requested",
            "after_verdict_recorded",
            "after_synthesis_recorded",
            "after_decision_made",
            "after_traffic_switched",
            "after_drained",
            "after_blue_stopped",
            "after_report_written",
            "after_completed",
            "before_validate_inputs",
            "before_start_instance",
            "before_wait_healthy",
            "before_run_tests",
            "before_review",
            "before_synthesize",
            "before_switch_traffic",
            "before_drain",
            "before_stop_instance",
            "before_write_report",
        ],
        Case::Healthy,
    );
}

#[test]
fn crashes_along_a_rollback_and_the_other_endings() {
    each(
        &[
            "after_green_unhealthy",
            "after_fix_attempted",
            "after_escalated",
            "after_rollback_started",
            "after_rollback_completed",
            "after_green_stopped",
            "before_apply_fix",
        ],
        Case::Broken,
    );
    crash_at("after_returned_to_development", Case::Flawed);
    crash_at("after_manually_approved", Case::Approved);
    crash_at("after_manually_rejected", Case::Rejected);
    crash_at("after_aborted", Case::Aborted);
    crash_at("after_inputs_rejected", Case::Missing);
}

#[test]
fn crashes_during_the_analyses_resume_them_and_count_each_measurement_once() {
    each(
        &[
            "after_analysis_started",
            "after_analysis_measured",
            "after_analysis_completed",
            "after_blue_kept",
            "before_measure",
            "before_keep_blue",
        ],
        Case::Analysed,
    );
}

#[test]
fn crashes_at_each_canary_step_kind_resume_it_with_the_split_held() {
    each(
        &[
            "after_step_started",
            "after_weight_set",
            "after_step_completed",
            "before_set_weight",
            "before_pause",
        ],
        Case::Canary,
    );
    each(&["before_withdraw_canary"], Case::CanaryFailed);
}

/// A crash in the completion of a promotion that commits its report and
/// closes an issue: after the restart the report is committed once, and
/// the issue commented on once and closed.
fn crash_in_completion(point: &str) {
    let forge = FakeForge::start(REPO, &[7], &[], &[]);
    let (mut s, repo, knobs) = completing_scenario(Some(&forge), false);
    commit_all(&repo, "first");
    assert_eq!(s.deploy("v1").status.code(), Some(0));
    s.kill_server();
    s.start_server_with(&[
        (TOKEN_ENV, TOKEN),
        ("FAILPOINTS", &format!("{point}=return")),
    ]);
    release_in_repo(&s, "v2", &repo, &knobs);
    std::fs::write(repo.join("CHANGES.md"), "- v2\n").expect("write");
    commit_all(&repo, "v2 (fixes #7)");
    let deploy = s.deploy_in_background("v2");
    assert!(
        s.server_ended_within(Duration::from_secs(60)),
        "{point} was never reached"
    );
    stop_following(deploy);
    s.start_server_with(&[(TOKEN_ENV, TOKEN)]);
    let id = s.last_id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.json(&["show", &id])["deployment"]["status"] == "in_progress" {
        assert!(
            Instant::now() < deadline,
            "{point}: the deployment did not end"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(
        s.json(&["show", &id])["deployment"]["status"],
        "promoted",
        "{point}"
    );
    let reports = git(&repo, &["log", "--format=%s", "--grep=hello v2 promoted"]);
    assert_eq!(reports.lines().count(), 1, "{point}: {reports}");
    let issue = forge.issue(7);
    assert!(!issue.open, "{point}");
    assert_eq!(issue.comments.len(), 1, "{point}: {:?}", issue.comments);
    s.kill_server();
    assert_eq!(s.cli(&["verify"]).status.code(), Some(0), "{point}");
}

#[test]
fn crashes_along_a_completion_that_commits_and_closes_issues() {
    for point in [
        "before_commit_report",
        "between_commit_and_event",
        "after_report_committed",
        "before_find_issues",
        "after_issues_referenced",
        "before_close_issue",
        "between_comment_and_close",
        "after_issue_closed",
        "after_issues_closed",
    ] {
        crash_in_completion(point);
    }
}

#[test]
fn a_crash_after_a_failed_rollback_leaves_the_promoted_release_serving() {
    let mut s = Scenario::new();
    s.start_server();
    for release in ["v1", "v2"] {
        s.release(release, &Knobs::default());
        let out = s.deploy(release);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // v1 can no longer start: its code is gone, its snapshot too.
    std::fs::remove_dir_all(s.dir.path().join("code-v1")).expect("remove v1's code");
    for snapshot in std::fs::read_dir(s.data.join("releases/hello"))
        .expect("snapshots")
        .flatten()
    {
        if snapshot.file_name().to_string_lossy().starts_with("v1-") {
            std::fs::remove_dir_all(snapshot.path()).expect("remove v1's snapshot");
        }
    }
    let id = s.last_id();
    s.kill_server();
    s.start_server_with(&[("FAILPOINTS", "after_rollback_failed=return")]);
    let load = Load::start(s.listen);
    let _ = s.cli(&["rollback", "hello", "--reason", "try"]);
    assert!(
        s.server_ended_within(Duration::from_secs(60)),
        "never reached"
    );
    s.start_server();
    let shown = s.json(&["show", &id]);
    assert_eq!(shown["deployment"]["status"], "promoted");
    assert_eq!(s.serving().as_deref(), Some("hello from v2"));
    let load = load.finish();
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    s.kill_server();
    assert_eq!(s.cli(&["verify"]).status.code(), Some(0));
    assert_eq!(running_releases(s.dir.path()).len(), 1);
}

#[test]
fn a_crash_after_a_deployment_failed_for_good_still_stops_its_green() {
    let mut s = Scenario::new();
    s.start_server();
    s.release("v1", &Knobs::default());
    assert_eq!(s.deploy("v1").status.code(), Some(0));
    // v2's router admin address answers every connection by closing it:
    // no router can be reached or started there, so its switch fails.
    let blocked = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let blocked_addr = blocked.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in blocked.incoming() {
            drop(stream);
        }
    });
    s.release("v2", &Knobs::default());
    let config = std::fs::read_to_string(&s.config).expect("config");
    let config = config.replace(
        &format!("admin = \"{}\"", s.admin),
        &format!("admin = \"{blocked_addr}\""),
    );
    std::fs::write(&s.config, config).expect("config");
    s.kill_server();
    s.start_server_with(&[("FAILPOINTS", "after_failed=return")]);
    let load = Load::start(s.listen);
    let deploy = s.deploy_in_background("v2");
    assert!(
        s.server_ended_within(Duration::from_secs(60)),
        "after_failed never reached"
    );
    stop_following(deploy);
    s.start_server();
    let id = s.last_id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.json(&["show", &id])["deployment"]["status"] == "in_progress" {
        assert!(
            Instant::now() < deadline,
            "the failed deployment did not end"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "failed");
    assert_eq!(s.serving().as_deref(), Some("hello from v1"));
    let load = load.finish();
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    s.kill_server();
    assert_eq!(s.cli(&["verify"]).status.code(), Some(0));
    assert_eq!(
        running_releases(s.dir.path()).len(),
        1,
        "green was left running"
    );
}
