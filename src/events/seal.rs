//! The seal: a small file beside the database holding the count and hash of
//! the last acknowledged record.
//!
//! sled recovers to a consistent prefix of its own log, so damage to its
//! files can silently drop records that were acknowledged. The seal is the
//! witness that lets `verify` and `open` notice: it is rewritten after every
//! group commit's flush, so it never claims more than the disk holds. It is
//! not fsynced itself (that would double the cost of a commit); after a power
//! loss it may lag, which only weakens the check, never fails a whole log.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::Hash;
use super::error::StoreError;

const LEN: usize = 8 + 32 + 4;

/// What the seal says: how many records were acknowledged, and the last one's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    pub count: u64,
    pub last_hash: Hash,
}

impl Seal {
    fn to_bytes(self) -> [u8; LEN] {
        let mut bytes = [0; LEN];
        bytes[..8].copy_from_slice(&self.count.to_be_bytes());
        bytes[8..40].copy_from_slice(&self.last_hash.0);
        let crc = crc32fast::hash(&bytes[..40]);
        bytes[40..].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Seal> {
        if bytes.len() != LEN {
            return None;
        }
        let crc = u32::from_be_bytes(bytes[40..].try_into().ok()?);
        if crc != crc32fast::hash(&bytes[..40]) {
            return None;
        }
        Some(Seal {
            count: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            last_hash: Hash(bytes[8..40].try_into().ok()?),
        })
    }
}

/// What reading the seal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealState {
    Missing,
    Damaged,
    Intact(Seal),
}

pub fn read(path: &Path) -> Result<SealState, StoreError> {
    match std::fs::read(path) {
        // Created but never written: a crash at a new log's first open.
        Ok(bytes) if bytes.is_empty() => Ok(SealState::Missing),
        Ok(bytes) => Ok(Seal::from_bytes(&bytes).map_or(SealState::Damaged, SealState::Intact)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SealState::Missing),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Where a log disagrees with its seal, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealMismatch {
    pub seq: u64,
    pub reason: String,
}

/// Checks a log that ends after `count` records, the last with `last_hash`,
/// against its seal. `hash_at` gives the hash of an earlier record, for a
/// seal that lags (a crash between a flush and the seal's update).
pub fn check(
    path: &Path,
    state: SealState,
    count: u64,
    last_hash: Hash,
    hash_at: impl FnOnce(u64) -> Result<Option<Hash>, StoreError>,
) -> Result<(), SealMismatch> {
    let seal = match state {
        // An empty log has nothing acknowledged to lose.
        _ if count == 0 && !matches!(state, SealState::Intact(s) if s.count > 0) => return Ok(()),
        SealState::Intact(seal) => seal,
        SealState::Missing => {
            return Err(SealMismatch {
                seq: count,
                reason: format!(
                    "the seal {} is missing, so lost records at the end could go unnoticed",
                    path.display()
                ),
            });
        }
        SealState::Damaged => {
            return Err(SealMismatch {
                seq: count,
                reason: format!("the seal {} is damaged", path.display()),
            });
        }
    };
    if seal.count > count {
        return Err(SealMismatch {
            seq: count,
            reason: format!(
                "{} records were acknowledged but the log ends after {count}",
                seal.count
            ),
        });
    }
    if seal.count == 0 {
        return Ok(());
    }
    let seq = seal.count - 1;
    let hash = if seal.count == count {
        Ok(Some(last_hash))
    } else {
        hash_at(seq)
    };
    match hash {
        Ok(Some(hash)) if hash == seal.last_hash => Ok(()),
        Ok(Some(_)) => Err(SealMismatch {
            seq,
            reason: "it is not the record that was acknowledged (its hash differs from the seal's)"
                .into(),
        }),
        Ok(None) => Err(SealMismatch {
            seq,
            reason: "the last acknowledged record is missing".into(),
        }),
        Err(e) => Err(SealMismatch {
            seq,
            reason: e.to_string(),
        }),
    }
}

/// The open seal file a writer rewrites in place after each commit.
pub struct SealWriter {
    file: File,
    path: PathBuf,
}

impl SealWriter {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if !existed {
            // A new file's name is durable only once its directory is synced.
            if let Some(dir) = path.parent() {
                File::open(dir)
                    .and_then(|dir| dir.sync_all())
                    .map_err(|source| StoreError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn write(&self, seal: Seal) -> Result<(), StoreError> {
        self.file
            .write_all_at(&seal.to_bytes(), 0)
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes and fsyncs: used once at creation so a new log always has one.
    pub fn write_durably(&self, seal: Seal) -> Result<(), StoreError> {
        self.write(seal)?;
        self.file.sync_all().map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_reads_back_and_a_damaged_one_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal");
        assert_eq!(read(&path).unwrap(), SealState::Missing);
        let seal = Seal {
            count: 12,
            last_hash: Hash([7; 32]),
        };
        SealWriter::open(&path).unwrap().write(seal).unwrap();
        assert_eq!(read(&path).unwrap(), SealState::Intact(seal));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path).unwrap(), SealState::Damaged);
    }
}
