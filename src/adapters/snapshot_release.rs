//! A release's code, frozen when it is started: the code directory copied
//! into `<data-dir>/releases/<app>/<release>-<8 hex of its digest>/`, so
//! that a rollback starts the code that release ran, not whatever the
//! code directory holds today. The copy honours `.gitignore` inside a git
//! repository (the parents' too, as git reads them), `.ignore` and
//! `.deployflowignore` everywhere, and never takes
//! `.git`, the data directory or deployflow's own reports
//! (`docs/deployments/`). Its digest is a SHA-256 over every file's path,
//! kind and bytes in path order: the release's identity, the same however
//! often it is taken.

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where a release's frozen code is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub dir: PathBuf,
    /// SHA-256 of the files' paths, kinds and bytes, hex.
    pub digest: String,
}

/// The file in a snapshot that names its whole digest: a folder without
/// it is a copy cut short, taken again.
const MARKER: &str = ".deployflow-snapshot";

/// The folder every snapshot of `app` lives in.
pub fn app_dir(data_dir: &Path, app: &str) -> PathBuf {
    data_dir.join("releases").join(app)
}

/// The folder of `release` with `digest`.
pub fn dir_of(data_dir: &Path, app: &str, release: &str, digest: &str) -> PathBuf {
    let short = digest.get(..8).unwrap_or(digest);
    app_dir(data_dir, app).join(format!("{}-{short}", file_name(release)))
}

/// Copies `code` (not `data_dir`, wherever it is) into the snapshot of
/// `release`; one already there with the same digest is kept as it is.
pub fn take(code: &Path, data_dir: &Path, app: &str, release: &str) -> io::Result<Snapshot> {
    let apps = app_dir(data_dir, app);
    std::fs::create_dir_all(&apps)?;
    let staging = tempfile::Builder::new()
        .prefix(".taking-")
        .tempdir_in(&apps)?;
    let digest = copy_tree(code, data_dir, staging.path())?;
    let dir = dir_of(data_dir, app, release, &digest);
    if marked(&dir).as_deref() == Some(digest.as_str()) {
        return Ok(Snapshot { dir, digest });
    }
    std::fs::write(staging.path().join(MARKER), format!("{digest}\n"))?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another take of the same code got there first: that one serves.
        if marked(&dir).as_deref() == Some(digest.as_str()) {
            return Ok(Snapshot { dir, digest });
        }
        return Err(e);
    }
    Ok(Snapshot { dir, digest })
}

/// The snapshot of `release` with `digest`, if it is there whole.
pub fn find(data_dir: &Path, app: &str, release: &str, digest: &str) -> Option<Snapshot> {
    let dir = dir_of(data_dir, app, release, digest);
    (marked(&dir).as_deref() == Some(digest)).then(|| Snapshot {
        dir,
        digest: digest.to_string(),
    })
}

/// Removes the snapshots of `app` whose folder is not in `keep`, and any
/// copy cut short; what cannot be removed is returned, named.
pub fn prune(data_dir: &Path, app: &str, keep: &[PathBuf]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(app_dir(data_dir, app)) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let taking = entry.file_name().to_string_lossy().starts_with(".taking-");
        if keep.contains(&path) || (taking && recent(&path)) {
            continue;
        }
        if let Err(e) = std::fs::remove_dir_all(&path) {
            problems.push(format!("{}: {e}", path.display()));
        }
    }
    problems
}

/// A copy under way may be another deployment's (another app's lock is
/// another deployment): left alone for an hour.
fn recent(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 3600)
}

fn marked(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(MARKER))
        .ok()
        .map(|text| text.trim().to_string())
}

/// A release label as a folder name: what is not a letter, a digit, `.`,
/// `-` or `_` becomes `_`.
fn file_name(release: &str) -> String {
    let name: String = release
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.as_str() {
        "" | "." | ".." => format!("release{name}"),
        _ => name,
    }
}

/// Copies the files of `code` that belong to the release into `into`,
/// hashing them on the way; returns the digest.
fn copy_tree(code: &Path, data_dir: &Path, into: &Path) -> io::Result<String> {
    let code = code.canonicalize()?;
    let data_dir = data_dir.canonicalize().ok();
    let walker =
        crate::adapters::release_files::walk(&code, move |path| data_dir.as_deref() == Some(path));
    let mut hasher = Sha256::new();
    for entry in walker {
        let entry = entry.map_err(io::Error::other)?;
        let path = entry.path();
        let relative = path.strip_prefix(&code).map_err(io::Error::other)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = into.join(relative);
        let kind = entry
            .file_type()
            .ok_or_else(|| io::Error::other(format!("{}: no file type", path.display())))?;
        let name = relative.to_string_lossy();
        if kind.is_dir() {
            hash_entry(&mut hasher, b'd', &name, &[]);
            std::fs::create_dir_all(&target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(path)?;
            hash_entry(
                &mut hasher,
                b'l',
                &name,
                link.as_os_str().as_encoded_bytes(),
            );
            std::os::unix::fs::symlink(&link, &target)?;
        } else if kind.is_file() {
            let mode = std::fs::metadata(path)?.permissions().mode();
            // Executable or not is part of what runs.
            let kind = if mode & 0o111 != 0 { b'x' } else { b'f' };
            let mut bytes = Vec::new();
            std::fs::File::open(path)?.read_to_end(&mut bytes)?;
            hash_entry(&mut hasher, kind, &name, &bytes);
            let mut file = std::fs::File::create(&target)?;
            file.write_all(&bytes)?;
            // Owner-only, as everything in the data directory is.
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7700))?;
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// One entry into the digest: its kind, its path and its bytes, each
/// length-prefixed so no two trees hash alike by accident.
fn hash_entry(hasher: &mut Sha256, kind: u8, path: &str, bytes: &[u8]) {
    hasher.update([kind]);
    hasher.update((path.len() as u64).to_be_bytes());
    hasher.update(path.as_bytes());
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_snapshot_holds_the_release_and_nothing_ignored_and_its_digest_is_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        let data = code.join(".deployflow");
        write(&code.join("app.sh"), "echo 2.0");
        write(&code.join("src/lib.txt"), "v2");
        write(&code.join(".gitignore"), "target/\n*.log\n");
        write(&code.join(".deployflowignore"), "secret-notes.md\n");
        write(&code.join("target/big"), "built");
        write(&code.join("run.log"), "log");
        write(&code.join("secret-notes.md"), "notes");
        write(&code.join(".git/HEAD"), "ref");
        write(&code.join("docs/deployments/report.md"), "report");
        write(&data.join("events"), "log");
        std::fs::set_permissions(code.join("app.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();

        let first = take(&code, &data, "hello", "v2").unwrap();
        assert!(first.dir.starts_with(data.join("releases/hello")));
        assert!(first.dir.ends_with(format!("v2-{}", &first.digest[..8])));
        let copied = |p: &str| first.dir.join(p).exists();
        assert!(copied("app.sh") && copied("src/lib.txt") && copied(".gitignore"));
        for left_out in [
            "target",
            "run.log",
            "secret-notes.md",
            ".git",
            "docs/deployments",
            ".deployflow",
        ] {
            assert!(!copied(left_out), "{left_out} was copied");
        }
        let mode = std::fs::metadata(first.dir.join("app.sh"))
            .unwrap()
            .permissions()
            .mode();
        // Still executable, and owner-only like the whole data directory.
        assert_eq!(mode & 0o777, 0o700);

        // The same content, the same snapshot; other content, another.
        write(&code.join("run.log"), "more log");
        assert_eq!(take(&code, &data, "hello", "v2").unwrap(), first);
        write(&code.join("app.sh"), "echo 6.0");
        let second = take(&code, &data, "hello", "v6").unwrap();
        assert_ne!(second.digest, first.digest);
        assert_eq!(
            std::fs::read_to_string(first.dir.join("app.sh")).unwrap(),
            "echo 2.0"
        );
        assert_eq!(
            find(&data, "hello", "v2", &first.digest),
            Some(first.clone())
        );

        assert!(prune(&data, "hello", std::slice::from_ref(&second.dir)).is_empty());
        assert!(!first.dir.exists() && second.dir.exists());
        assert_eq!(find(&data, "hello", "v2", &first.digest), None);
    }

    #[test]
    fn release_labels_become_safe_folder_names() {
        assert_eq!(file_name("v1.2-rc_3"), "v1.2-rc_3");
        assert_eq!(file_name("../etc"), ".._etc");
        assert_eq!(file_name(".."), "release..");
        assert_eq!(file_name("a/b c"), "a_b_c");
    }
}
