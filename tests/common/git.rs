//! Real git repositories for the completion tests: one working tree that
//! every release of a scenario is deployed from, as a user's checkout is.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use std::path::PathBuf;

use super::forge::{FakeForge, REPO, TOKEN, TOKEN_ENV};
use super::scenario::{Knobs, Scenario};

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap_or(dir))
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The completion's tables: commit as `author`, push when `push`, and the
/// forge at `forge` when there is one.
pub fn completion(push: bool, forge: Option<&FakeForge>) -> String {
    let mut tables = format!(
        "\n[completion]\ncommit = true\npush = {push}\nauthor = \"Release Bot <bot@example.com>\"\n"
    );
    if let Some(forge) = forge {
        tables.push_str(&format!(
            "\n[forge]\nkind = \"github\"\napi_url = \"{}\"\nrepo = \"{REPO}\"\ntoken_env = \"{TOKEN_ENV}\"\n",
            forge.url()
        ));
    }
    tables
}

/// Release `label` of the example app, its code in the repository `repo`
/// (one working tree for every release, as a user's checkout is).
pub fn release_in_repo(s: &Scenario, label: &str, repo: &Path, knobs: &Knobs) {
    let code = s.release(label, knobs);
    if !repo.exists() {
        std::fs::rename(&code, repo).expect("the first release's code becomes the repository");
        git(repo, &["init", "--quiet", "--initial-branch=main"]);
    } else {
        std::fs::remove_dir_all(&code).expect("remove the copy");
    }
    let name = repo
        .file_name()
        .and_then(|n| n.to_str())
        .expect("repo name");
    let config = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(&s.config, config.replace(&format!("code-{label}"), name)).expect("config");
}

pub fn commit_all(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", message]);
}

/// A scenario whose control plane holds the forge's token, with release v1
/// written into a new repository `repo` (not committed yet) and the knobs
/// that commit reports (and push them when `push`) and use `forge`.
pub fn completing_scenario(forge: Option<&FakeForge>, push: bool) -> (Scenario, PathBuf, Knobs) {
    let mut s = Scenario::new();
    s.start_server_with(&[(TOKEN_ENV, TOKEN)]);
    let repo = s.dir.path().join("repo");
    let knobs = Knobs {
        review: completion(push, forge),
        ..Knobs::default()
    };
    release_in_repo(&s, "v1", &repo, &knobs);
    (s, repo, knobs)
}
