//! The routes on disk: written to a temporary file, fsynced, renamed over the
//! old one and the directory fsynced, so a crash leaves the old table or the
//! new one, never half of either.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::route::Route;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot read the routes in {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the routes in {path} are not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot save the routes to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RoutesFile {
    apps: BTreeMap<String, Route>,
}

pub struct RouteFile {
    path: PathBuf,
}

impl RouteFile {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("routes.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved routes; none when nothing was ever saved.
    pub fn load(&self) -> Result<BTreeMap<String, Route>, PersistError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(PersistError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let file: RoutesFile =
            serde_json::from_slice(&bytes).map_err(|source| PersistError::Parse {
                path: self.path.clone(),
                source,
            })?;
        Ok(file.apps)
    }

    /// Blocks its caller (the admin API's thread) for the fsync. A
    /// blocking-pool thread would keep the admin API answering meanwhile,
    /// but its allocator heap stays with the process for good (about 1 MB
    /// of RSS, measured), and only the control plane, one change at a time,
    /// waits on this.
    pub fn save(&self, apps: &BTreeMap<String, Route>) -> Result<(), PersistError> {
        let write_error = |source| PersistError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_error)?;
        let file = RoutesFile { apps: apps.clone() };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|e| write_error(std::io::Error::other(e)))?;
        let temp = self.path.with_extension("json.tmp");
        let mut out = File::create(&temp).map_err(write_error)?;
        out.write_all(&json).map_err(write_error)?;
        out.sync_all().map_err(write_error)?;
        drop(out);
        std::fs::rename(&temp, &self.path).map_err(write_error)?;
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_come_back_as_saved() {
        let dir = tempfile::tempdir().unwrap();
        let file = RouteFile::new(dir.path());
        assert!(file.load().unwrap().is_empty());
        let mut apps = BTreeMap::new();
        apps.insert(
            "hello".to_string(),
            Route {
                listen: "127.0.0.1:8080".parse().unwrap(),
                upstream: "127.0.0.1:9001".parse().unwrap(),
                canary: None,
            },
        );
        file.save(&apps).unwrap();
        assert_eq!(file.load().unwrap(), apps);
        assert!(!dir.path().join("routes.json.tmp").exists());
    }

    #[test]
    fn a_damaged_file_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("routes.json"), b"{\"apps\": [").unwrap();
        let err = RouteFile::new(dir.path()).load().unwrap_err();
        assert!(
            err.to_string().contains("routes.json are not valid"),
            "{err}"
        );
    }
}
