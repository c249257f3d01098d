//! deployflow.toml: its schema with defaults (`schema`) and reading it with
//! errors that name the key, line and column (`load`). Paths in the file are
//! relative to the file's own directory.

mod analysis;
mod canary;
mod condition;
mod load;
mod schema;

use std::path::{Path, PathBuf};

pub use analysis::*;
pub use canary::{Background, Split, SplitBy};
pub use condition::{Condition, ConditionError};
pub use load::{BUILT_IN_MEMBERS, ConfigError};
pub use schema::*;

/// Longest release label accepted.
pub const MAX_RELEASE_LEN: usize = 128;

/// What is wrong with a release label, if anything: it names folders,
/// images and report files and is printed to terminals, so it is 1 to 128
/// characters without control characters (newlines, escapes, NUL) or `/`.
pub fn release_problem(release: &str) -> Option<String> {
    if release.is_empty() {
        return Some("a release label must not be empty".into());
    }
    if release.chars().count() > MAX_RELEASE_LEN {
        return Some(format!(
            "a release label has at most {MAX_RELEASE_LEN} characters, not {}",
            release.chars().count()
        ));
    }
    release
        .chars()
        .find(|c| c.is_control() || *c == '/')
        .map(|c| format!("a release label must not hold {c:?}"))
}

impl Config {
    /// A path from the file, resolved against the file's directory.
    pub fn resolve(base: &Path, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_owned()
        } else {
            // `code = "."` is the base itself, not `base/.`, in every path shown.
            path.components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .fold(base.to_owned(), |joined, c| joined.join(c))
        }
    }
}
