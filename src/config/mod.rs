//! deployflow.toml: its schema with defaults (`schema`) and reading it with
//! errors that name the key, line and column (`load`). Paths in the file are
//! relative to the file's own directory.

mod load;
mod schema;

use std::path::{Path, PathBuf};

pub use load::{BUILT_IN_MEMBERS, ConfigError};
pub use schema::*;

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
