//! The release's text files before and after an agent ran: what it changed,
//! as a unified diff, and a way to put the files back when its run failed.
//! The same walk as the reviewers' (`members/scan.rs`): build output,
//! dependencies, VCS internals and deployflow's state are not the release's
//! code; binary and very large files are not diffed.

use std::collections::BTreeMap;
use std::path::Path;

use similar::TextDiff;

use crate::adapters::members::scan::walk_text_files;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Relative path (`/`-separated) to text.
    files: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn take(root: &Path) -> Snapshot {
        let mut files = BTreeMap::new();
        // An unreadable root leaves the snapshot empty: the diff then shows
        // every file the agent left as new, which is still a true record.
        let _ = walk_text_files(
            root,
            |_| true,
            |file| {
                files.insert(file.rel, file.text);
            },
        );
        Snapshot { files }
    }

    /// [`Snapshot::take`] on a blocking thread.
    pub async fn take_off_thread(root: &Path) -> Snapshot {
        let root = root.to_path_buf();
        tokio::task::spawn_blocking(move || Snapshot::take(&root))
            .await
            .unwrap_or_default()
    }

    /// What changed from `self` to `after`, in `git diff` form (a/ and b/
    /// prefixes, /dev/null for added and removed files), in path order.
    pub fn diff(&self, after: &Snapshot) -> String {
        let mut out = String::new();
        let paths: std::collections::BTreeSet<&String> =
            self.files.keys().chain(after.files.keys()).collect();
        for path in paths {
            let (old, new) = (self.files.get(path), after.files.get(path));
            if old == new {
                continue;
            }
            let old_name = old.map_or("/dev/null".to_string(), |_| format!("a/{path}"));
            let new_name = new.map_or("/dev/null".to_string(), |_| format!("b/{path}"));
            let (old, new) = (
                old.map(String::as_str).unwrap_or(""),
                new.map(String::as_str).unwrap_or(""),
            );
            out.push_str(&format!("diff --git a/{path} b/{path}\n"));
            out.push_str(
                &TextDiff::from_lines(old, new)
                    .unified_diff()
                    .context_radius(3)
                    .header(&old_name, &new_name)
                    .to_string(),
            );
        }
        out
    }

    /// Puts the files of `self` back over `after`: changed and removed ones
    /// rewritten, added ones removed. Returns the paths it could not restore.
    pub fn restore(&self, root: &Path, after: &Snapshot) -> Vec<String> {
        let mut failed = Vec::new();
        for (path, text) in &self.files {
            if after.files.get(path) != Some(text) {
                let target = root.join(path);
                let written = target
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&target, text));
                if written.is_err() {
                    failed.push(path.clone());
                }
            }
        }
        for path in after.files.keys() {
            if !self.files.contains_key(path) && std::fs::remove_file(root.join(path)).is_err() {
                failed.push(path.clone());
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_an_addition_and_a_removal_show_as_git_diffs_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("app.env"), "PORT=1\nMODE=broken\n").unwrap();
        std::fs::write(root.join("gone.txt"), "old\n").unwrap();
        std::fs::create_dir(root.join("target")).unwrap();
        std::fs::write(root.join("target/out.txt"), "build output\n").unwrap();
        let before = Snapshot::take(root);

        std::fs::write(root.join("app.env"), "PORT=1\nMODE=fixed\n").unwrap();
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        std::fs::create_dir(root.join("src")).unwrap();
        std::fs::write(root.join("src/new.rs"), "fn main() {}\n").unwrap();
        std::fs::write(root.join("target/out.txt"), "rebuilt\n").unwrap();
        let after = Snapshot::take(root);

        let diff = before.diff(&after);
        assert!(diff.contains("diff --git a/app.env b/app.env\n--- a/app.env\n+++ b/app.env\n"));
        assert!(diff.contains("-MODE=broken\n+MODE=fixed\n"));
        assert!(diff.contains("--- a/gone.txt\n+++ /dev/null\n"));
        assert!(diff.contains("--- /dev/null\n+++ b/src/new.rs\n"));
        assert!(
            !diff.contains("target/"),
            "build output is not the release's code"
        );
        assert_eq!(before.diff(&before), "");

        assert!(before.restore(root, &after).is_empty());
        assert_eq!(Snapshot::take(root), before);
    }
}
