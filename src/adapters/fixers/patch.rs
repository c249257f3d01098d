//! Applying a model's unified diff to the code directory with `git apply`:
//! all or nothing (git checks every hunk before it writes), only inside the
//! code directory, never into VCS internals or deployflow's own state.

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// Why a patch was not applied, in git's words where git refused it.
pub async fn apply(code_dir: &Path, diff: &str) -> Result<(), String> {
    let paths = touched_paths(diff);
    if paths.is_empty() {
        return Err("the answer holds no unified diff (no `--- a/...` / `+++ b/...` lines)".into());
    }
    if let Some(bad) = paths.iter().find(|p| !is_release_path(p)) {
        return Err(format!(
            "the patch touches {bad}, outside the release's own files"
        ));
    }
    let mut diff = diff.to_string();
    if !diff.ends_with('\n') {
        diff.push('\n');
    }
    // Models mostly write `a/` and `b/` prefixes (-p1); some leave them out.
    let mut first_refusal = None;
    for strip in ["-p1", "-p0"] {
        match git_apply(code_dir, &diff, &["--check", strip]).await {
            Ok(()) => return git_apply(code_dir, &diff, &[strip]).await,
            Err(why) => {
                first_refusal.get_or_insert(why);
            }
        }
    }
    Err(first_refusal.unwrap_or_default())
}

/// `git apply ARGS` in `code_dir` with the diff on stdin. Git looks for a
/// repository no higher than the code directory, so paths are taken from
/// the code directory whether or not it is (or sits in) a repository.
async fn git_apply(code_dir: &Path, diff: &str, args: &[&str]) -> Result<(), String> {
    let ceiling = code_dir.parent().unwrap_or(code_dir);
    let mut child = crate::adapters::child::command("git")
        .arg("apply")
        .arg("--whitespace=nowarn")
        .args(args)
        .current_dir(code_dir)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run git apply (is git installed?): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(diff.as_bytes()).await;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("waiting for git apply: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git apply refused it: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The paths a unified diff names in its `---` and `+++` lines.
fn touched_paths(diff: &str) -> Vec<String> {
    diff.lines()
        .filter_map(|line| {
            line.strip_prefix("--- ")
                .or_else(|| line.strip_prefix("+++ "))
        })
        // A timestamp may follow the name after a tab.
        .map(|rest| rest.split('\t').next().unwrap_or(rest).trim().to_string())
        .filter(|path| path != "/dev/null")
        .collect()
}

/// A relative path that stays in the code directory and is the release's
/// own: no `..`, no absolute path, nothing in `.git` or `.deployflow`
/// (which holds the secrets file).
fn is_release_path(path: &str) -> bool {
    let path = path
        .strip_prefix("a/")
        .or_else(|| path.strip_prefix("b/"))
        .unwrap_or(path);
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|part| !matches!(part, ".." | ".git" | ".deployflow"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str =
        "--- a/app.env\n+++ b/app.env\n@@ -1,2 +1,2 @@\n PORT=1\n-MODE=broken\n+MODE=fixed\n";

    #[tokio::test]
    async fn a_diff_applies_with_or_without_prefixes_and_a_stale_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.env");
        std::fs::write(&file, "PORT=1\nMODE=broken\n").unwrap();
        apply(dir.path(), FIX).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "PORT=1\nMODE=fixed\n"
        );

        // The same diff again no longer matches: refused, file untouched.
        let refused = apply(dir.path(), FIX).await.unwrap_err();
        assert!(refused.contains("git apply refused it"), "{refused}");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "PORT=1\nMODE=fixed\n"
        );

        let unprefixed =
            "--- app.env\n+++ app.env\n@@ -1,2 +1,2 @@\n PORT=1\n-MODE=fixed\n+MODE=other";
        apply(dir.path(), unprefixed).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "PORT=1\nMODE=other\n"
        );
    }

    #[tokio::test]
    async fn a_diff_reaching_outside_the_release_or_no_diff_at_all_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (diff, expected) in [
            ("--- a/../x\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n", "outside"),
            (
                "--- /dev/null\n+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+x\n",
                "outside",
            ),
            (
                "--- /dev/null\n+++ /etc/passwd\n@@ -0,0 +1 @@\n+x\n",
                "outside",
            ),
            ("I changed MODE to fixed.", "no unified diff"),
        ] {
            let why = apply(dir.path(), diff).await.unwrap_err();
            assert!(why.contains(expected), "{diff}: {why}");
        }
    }
}
