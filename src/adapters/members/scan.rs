//! The file walk the built-in members, the prompts and the fixers share:
//! the release's own text files (`release_files::walk`: what git and
//! `.deployflowignore` leave in, no `.git`, no reports under
//! `docs/deployments/`), without build output, dependencies or deployflow's
//! state (which holds the secrets file), so a finding always points at
//! code the release's authors wrote.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Larger files are generated or data, not code anyone reviews by hand.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

const SKIPPED_DIRS: [&str; 4] = ["target", ".git", "node_modules", ".deployflow"];

/// How far a NUL byte is looked for: enough to tell a binary from text
/// without reading a whole file twice.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// One text file of the release.
#[derive(Debug)]
pub struct TextFile {
    /// Relative to the walked root, `/`-separated: how findings name it.
    pub rel: String,
    pub path: PathBuf,
    pub text: String,
}

/// What a walk looked at, for the members' summaries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalkStats {
    pub scanned: usize,
    /// Too large, binary, not UTF-8 or unreadable.
    pub skipped: usize,
}

/// Visits every text file under `root` whose relative path `wanted` accepts,
/// in a stable (sorted) order. Only an unreadable `root` is an error: a file
/// or subdirectory that cannot be read is counted as skipped, so one bad
/// entry never costs the whole review.
pub fn walk_text_files(
    root: &Path,
    wanted: impl Fn(&Path) -> bool,
    mut visit: impl FnMut(TextFile),
) -> io::Result<WalkStats> {
    let mut stats = WalkStats::default();
    // Only an unreadable root is an error.
    fs::read_dir(root)?;
    let skipped = |path: &Path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| SKIPPED_DIRS.contains(&n))
    };
    for entry in crate::adapters::release_files::walk(root, skipped) {
        let Ok(entry) = entry else {
            stats.skipped += 1;
            continue;
        };
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        // Symlinks are not followed: they can loop, or lead out of the
        // release into files that are not its code.
        let is_file = entry.file_type().is_some_and(|kind| kind.is_file());
        if !is_file || !wanted(rel) {
            continue;
        }
        match read_text(path) {
            Some(text) => {
                stats.scanned += 1;
                visit(TextFile {
                    rel: slash_path(rel),
                    path: path.to_path_buf(),
                    text,
                });
            }
            None => stats.skipped += 1,
        }
    }
    Ok(stats)
}

/// A file's text, or `None` when it is too large, binary, not UTF-8 or
/// unreadable.
pub fn read_text(path: &Path) -> Option<String> {
    let file = fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() > MAX_FILE_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    // The cap holds even if the file grows between the check and the read.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return None;
    }
    let sniff = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
    if sniff.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// `rel` with `/` separators, whatever the platform.
pub fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_all(root: &Path) -> (Vec<String>, WalkStats) {
        let mut seen = Vec::new();
        let stats = walk_text_files(root, |_| true, |f| seen.push(f.rel)).expect("walk");
        (seen, stats)
    }

    #[test]
    fn skips_build_output_dependencies_and_binaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in [
            "src",
            "target/debug",
            "node_modules/x",
            ".git",
            ".deployflow",
        ] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        fs::write(root.join("src/main.rs"), "fn main() {}").expect("write");
        fs::write(root.join("target/debug/out.rs"), "x").expect("write");
        fs::write(root.join("node_modules/x/index.js"), "x").expect("write");
        fs::write(root.join(".git/config"), "x").expect("write");
        fs::write(root.join(".deployflow/secrets"), "x").expect("write");
        fs::write(root.join("logo.png"), [0x89, b'P', 0, 1]).expect("write");
        fs::write(root.join("latin1.txt"), [b'a', 0xe9, b'b']).expect("write");
        let big = vec![b'a'; MAX_FILE_BYTES as usize + 1];
        fs::write(root.join("big.txt"), big).expect("write");
        let (seen, stats) = walk_all(root);
        assert_eq!(seen, ["src/main.rs"]);
        assert_eq!(stats.scanned, 1);
        assert_eq!(stats.skipped, 3);
    }

    #[test]
    fn an_unreadable_root_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(walk_text_files(&dir.path().join("absent"), |_| true, |_| {}).is_err());
    }
}
