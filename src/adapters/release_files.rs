//! The one walk over a release's files: what belongs to the release, as
//! git reads it (`.gitignore`s inside a repository, its parents' included),
//! `.ignore` and `.deployflowignore` everywhere, never `.git` nor
//! deployflow's own reports under `docs/deployments/`. The snapshot copies
//! what it yields; the reviewers and fixers read the text files among it,
//! so a prompt holds the release and not its noise.

use std::path::{Path, PathBuf};

/// Walks `root` in path order, leaving out what is ignored, the `.git`
/// folder, `docs/deployments/` and every path `skip` refuses (a data
/// directory inside the code, say). Symlinks are yielded, not followed.
pub fn walk(root: &Path, skip: impl Fn(&Path) -> bool + Send + Sync + 'static) -> ignore::Walk {
    let excluded: Vec<PathBuf> = vec![root.join(".git"), root.join("docs").join("deployments")];
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        // `.gitignore`s count as git reads them: inside a repository, the
        // parents' included (a release in a monorepo's subdirectory);
        // `.deployflowignore` counts everywhere.
        .require_git(true)
        .parents(true)
        .add_custom_ignore_filename(".deployflowignore")
        .filter_entry(move |entry| {
            let path = entry.path();
            !excluded.iter().any(|x| path == x) && !skip(path)
        })
        .sort_by_file_path(|a, b| a.cmp(b))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(root: &Path) -> Vec<String> {
        walk(root, |_| false)
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|k| k.is_file()))
            .filter_map(|e| {
                e.path()
                    .strip_prefix(root)
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .collect()
    }

    #[test]
    fn the_release_is_what_git_and_deployflowignore_leave_without_reports() {
        let dir = tempfile::tempdir().expect("a directory");
        let root = dir.path();
        for sub in [".git", "src", "build", "docs/deployments", "docs/guide"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let write = |path: &str, text: &str| std::fs::write(root.join(path), text).expect("write");
        write(".gitignore", "build/\n*.pyc\n");
        write(".deployflowignore", "*.log\n");
        write(".git/config", "[core]\n");
        write("src/app.py", "print('hi')\n");
        write("src/app.pyc", "\0");
        write("build/out.bin", "x");
        write("server.log", "noise");
        write("docs/deployments/2026-12-01-hello-v1.md", "# report");
        write("docs/guide/README.md", "# guide");
        assert_eq!(
            files(root),
            [
                ".deployflowignore",
                ".gitignore",
                "docs/guide/README.md",
                "src/app.py"
            ]
        );
    }
}
