//! Phase 5's paperwork through the binary: the deployment report written
//! for every ending, committed to a real git repository, and the issues a
//! promoted release's commits close closed on a local GitHub-like forge.

mod common;

use std::path::PathBuf;

use common::forge::{
    FakeForge, NOT_FOUND, RATE_LIMITED, REPO, TOKEN, TOKEN_ENV, UNAUTHORIZED, UNPROCESSABLE,
};
use common::git::{commit_all, completing_scenario, git, release_in_repo};
use common::scenario::{Knobs, Scenario, plant_private_key, text};
use serde_json::Value;

/// The payloads of `id`'s events of `kind`, in order.
fn events_of(s: &Scenario, id: &str, kind: &str) -> Vec<Value> {
    s.payloads(id, kind)
}

fn report_of(s: &Scenario, id: &str) -> (PathBuf, String) {
    let written = events_of(s, id, "report_written");
    let path = PathBuf::from(
        written.last().expect("a report_written event")["path"]
            .as_str()
            .expect("path"),
    );
    let text = std::fs::read_to_string(&path).expect("the report file");
    (path, text)
}

#[test]
fn a_promotion_commits_its_report_pushes_it_and_closes_the_issues_its_commits_name() {
    let forge = FakeForge::start(REPO, &[1, 2, 5], &[3], &[4]);
    let (s, repo, knobs) = completing_scenario(Some(&forge), true);
    let remote = s.dir.path().join("remote.git");
    // An old commit names #5: an app's first promotion reads only its own
    // commit, so #5 (reopened since, say) stays as it is.
    git(
        &repo,
        &[
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "Long ago (fixes #5)",
        ],
    );
    commit_all(&repo, "The first release\n\nFixes #1");
    git(s.dir.path(), &["init", "--quiet", "--bare", "remote.git"]);
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().expect("path")],
    );
    git(&repo, &["push", "--quiet", "origin", "main"]);
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!forge.issue(1).open, "the first release closes #1");

    // The second release: its commits close #2 and #3 (closed already) and
    // name #4 (a pull request) and #5 (only mentioned).
    release_in_repo(&s, "v2", &repo, &knobs);
    std::fs::write(repo.join("CHANGES.md"), "- a friendlier greeting\n").expect("write");
    commit_all(&repo, "A friendlier greeting\n\nFixes #2, closes #3");
    std::fs::write(repo.join("CHANGES.md"), "- a friendlier greeting\n- docs\n").expect("write");
    commit_all(&repo, "Docs (resolves #4, see #5)");
    // A change of the user's, not committed: it must stay as it is.
    std::fs::write(repo.join("scratch.txt"), "work in progress\n").expect("write");
    let released = git(&repo, &["rev-parse", "HEAD"]);
    let out = s.deploy("v2");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = s.last_id();
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "promoted");

    // The report, committed by the configured author on the branch, alone.
    let (path, report) = report_of(&s, &id);
    assert!(report.contains("- Status: promoted"), "{report}");
    assert!(
        report.contains("- From v1 (slot blue) to v2 (slot green)"),
        "{report}"
    );
    assert!(report.contains("## Test results"), "{report}");
    assert!(report.contains("## Duration and efficiency"), "{report}");
    assert!(report.contains("trio `tests`: approve"), "{report}");
    let committed = &events_of(&s, &id, "report_committed")[0];
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(committed["commit"], head.as_str());
    assert_eq!(committed["branch"], "main");
    assert_eq!(committed["pushed"], true);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%an <%ae>|%cn|%s"]),
        "Release Bot <bot@example.com>|Release Bot|Deployment report: hello v2 promoted"
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), released);
    let relative = path
        .strip_prefix(&repo)
        .expect("the report is in the code directory");
    assert_eq!(
        git(&repo, &["show", "--name-only", "--format=", "HEAD"]),
        relative.display().to_string()
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "?? scratch.txt");
    assert_eq!(
        committed["notes"],
        serde_json::json!(["left uncommitted, as they are: scratch.txt"])
    );
    assert_eq!(git(&remote, &["rev-parse", "main"]), head);

    // The forge: #2 commented with the report's link, then closed; #3 left
    // without a second word; #4 a pull request, left; #5 untouched.
    let referenced = &events_of(&s, &id, "issues_referenced")[0];
    assert_eq!(referenced["issues"], serde_json::json!([2, 3, 4]));
    // v1's report commit and the two of the release.
    assert_eq!(referenced["commits"], 3);
    let two = forge.issue(2);
    assert!(!two.open);
    assert_eq!(two.comments.len(), 1);
    let link = format!("{}/{REPO}/blob/{head}/{}", forge.url(), relative.display());
    assert!(two.comments[0].contains(&link), "{}", two.comments[0]);
    assert!(two.comments[0].contains(&format!("<!-- deployflow:{id} -->")));
    assert!(forge.issue(3).comments.is_empty());
    assert!(forge.issue(4).open && forge.issue(4).comments.is_empty());
    assert!(forge.issue(5).open && forge.issue(5).comments.is_empty());
    let outcomes: Vec<(u64, String)> = events_of(&s, &id, "issue_closed")
        .iter()
        .map(|e| {
            (
                e["issue"].as_u64().expect("issue"),
                e["outcome"].as_str().expect("outcome").to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (2, "closed".to_string()),
            (3, "already_closed".into()),
            (4, "skipped".into())
        ]
    );
    assert_eq!(
        events_of(&s, &id, "issues_closed")[0]["issues"],
        serde_json::json!([2])
    );
    // Every call carried the token; no event, report or log line did.
    let requests = forge.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization == format!("Bearer {TOKEN}"))
    );
    assert!(requests.iter().all(|r| r.path != "issues/5"));
    let log = s.cli(&["events", "--json"]);
    assert!(!String::from_utf8_lossy(&log.stdout).contains(TOKEN));
    assert!(!report.contains(TOKEN));
    assert!(!s.serve_log().contains(TOKEN));

    // `deployflow report` regenerates it, with what the completion did.
    let regenerated = s.cli(&["report", &id]);
    let regenerated = String::from_utf8_lossy(&regenerated.stdout);
    assert!(regenerated.contains("Issue #2: closed"), "{regenerated}");
    assert!(regenerated.contains(&format!("Report committed as {head} on main, pushed")));
}

#[test]
fn forge_refusals_are_recorded_with_their_reason_and_the_release_stays_promoted() {
    let forge = FakeForge::start(REPO, &[UNPROCESSABLE, 7], &[], &[]);
    let (s, repo, _) = completing_scenario(Some(&forge), false);
    // The build, the app and the tests all run with the control plane's
    // environment, but never with the forge's token.
    let config = std::fs::read_to_string(&s.config).expect("config");
    let config = config.replacen(
        "[runtime]\n",
        "[runtime]\nbuild_command = \"env > build-env.txt\"\n",
        1,
    );
    std::fs::write(&s.config, config).expect("config");
    commit_all(
        &repo,
        &format!(
            "Everything at once\n\nFixes #{UNAUTHORIZED}, fixes #{NOT_FOUND}, fixes #{UNPROCESSABLE}, fixes #{RATE_LIMITED}, fixes #7"
        ),
    );
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = s.last_id();
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "promoted");
    let details: std::collections::BTreeMap<u64, (String, String)> =
        events_of(&s, &id, "issue_closed")
            .iter()
            .map(|e| {
                let p = &e;
                (
                    p["issue"].as_u64().expect("issue"),
                    (
                        p["outcome"].as_str().expect("outcome").to_string(),
                        p["detail"].as_str().expect("detail").to_string(),
                    ),
                )
            })
            .collect();
    let expect = [
        (UNAUTHORIZED, format!("the forge refused the token in {TOKEN_ENV} (401: Bad credentials)")),
        (NOT_FOUND, format!("issue #404 was not found in {REPO}, or the token cannot see it (404: Not Found)")),
        (UNPROCESSABLE, "the forge refused the change (422: Validation Failed: state_reason is invalid)".into()),
        (RATE_LIMITED, "rate limited by the forge until 2026-01-01T00:00:00+00:00 (API rate limit exceeded for user ID 1.)".into()),
    ];
    for (issue, message) in expect {
        assert_eq!(details[&issue], ("failed".to_string(), message), "#{issue}");
    }
    // The refusals did not stop the issue after them. Its comment names
    // the report's commit without a link: it was not pushed.
    assert_eq!(details[&7].0, "closed");
    assert!(
        forge.issue(7).comments[0].contains("(not pushed)"),
        "{:?}",
        forge.issue(7).comments
    );
    assert!(!forge.issue(7).open);
    // The refused close left #422 open, with the one comment it got.
    assert!(forge.issue(UNPROCESSABLE).open);
    assert_eq!(forge.issue(UNPROCESSABLE).comments.len(), 1);
    // The build ran in the release's snapshot, not the code directory.
    assert!(!repo.join("build-env.txt").exists());
    let snapshot = std::fs::read_dir(s.data.join("releases/hello"))
        .expect("the snapshots")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("v1-"))
        .expect("v1's snapshot");
    let built =
        std::fs::read_to_string(snapshot.path().join("build-env.txt")).expect("the build ran");
    assert!(built.contains("PATH="), "{built}");
    assert!(
        !built.contains(TOKEN_ENV) && !built.contains(TOKEN),
        "{built}"
    );
    let shown = s.cli(&["show", &id]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("Bad credentials"),
        "{}",
        text(&shown)
    );
}

#[test]
fn a_detached_head_or_no_repository_is_reported_and_nothing_is_committed() {
    let (s, repo, knobs) = completing_scenario(None, false);
    commit_all(&repo, "first");
    git(&repo, &["checkout", "--quiet", "--detach"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let out = s.deploy("v1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = s.last_id();
    let committed = &events_of(&s, &id, "report_committed")[0];
    assert_eq!(committed["commit"], Value::Null);
    assert!(
        committed["notes"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("not committed: HEAD is detached at ")),
        "{committed}"
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head, "HEAD moved");
    let (path, _) = report_of(&s, &id);
    assert!(path.exists());

    // A code directory outside any repository: the report is written, and
    // the commit step says why it committed nothing.
    let code = s.release("v2", &knobs);
    let out = s.deploy("v2");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = s.last_id();
    let committed = &events_of(&s, &id, "report_committed")[0];
    assert_eq!(committed["commit"], Value::Null);
    assert_eq!(
        committed["notes"][0],
        format!(
            "not committed: {} is not in a git repository",
            code.display()
        )
        .as_str()
    );
}

#[test]
fn a_rollback_and_a_return_are_reported_with_their_reason_and_close_nothing() {
    let forge = FakeForge::start(REPO, &[1, 2, 3], &[], &[]);
    let (s, repo, knobs) = completing_scenario(Some(&forge), false);
    commit_all(&repo, "first");
    assert_eq!(s.deploy("v1").status.code(), Some(0));

    // v2 never starts: rolled back after the fix loop.
    let broken = Knobs {
        env: ", HELLO_CRASH_AT_START = \"1\"".into(),
        ..knobs.clone()
    };
    release_in_repo(&s, "v2", &repo, &broken);
    std::fs::write(repo.join("CHANGES.md"), "- v2\n").expect("write");
    commit_all(&repo, "v2 (fixes #2)");
    let out = s.deploy("v2");
    assert_ne!(out.status.code(), Some(0));
    let id = s.last_id();
    assert_eq!(
        s.json(&["show", &id])["deployment"]["status"],
        "rolled_back"
    );
    let (_, report) = report_of(&s, &id);
    assert!(report.contains("- Status: rolled_back"), "{report}");
    assert!(report.contains("- Why: rolled back: "), "{report}");
    assert!(git(&repo, &["log", "-1", "--format=%s"]).ends_with("hello v2 rolled_back"));
    assert!(events_of(&s, &id, "issues_referenced").is_empty());

    // v3 carries a private key: returned to development.
    release_in_repo(&s, "v3", &repo, &knobs);
    plant_private_key(&repo);
    commit_all(&repo, "v3 (fixes #3)");
    let out = s.deploy("v3");
    assert_ne!(out.status.code(), Some(0));
    let id = s.last_id();
    assert_eq!(s.json(&["show", &id])["deployment"]["status"], "returned");
    let (_, report) = report_of(&s, &id);
    assert!(report.contains("- Status: returned"), "{report}");
    assert!(
        report.contains("- Why: returned to development: "),
        "{report}"
    );
    assert!(events_of(&s, &id, "issues_referenced").is_empty());
    assert!(forge.issue(2).open && forge.issue(3).open);
    assert!(
        forge
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("issues/2") && !r.path.starts_with("issues/3"))
    );
}
