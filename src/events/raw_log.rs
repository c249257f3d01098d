//! The sled layer: where records and the stream index live, and nothing else.
//!
//! Tree `events`: big-endian u64 sequence -> record bytes (see `record`).
//! Tree `streams`: stream id (16 bytes) ++ big-endian u64 version -> sequence.
//! `events` is the truth; `streams` is an index written after it in the same
//! flush, so a crash can only leave the index behind the records, which
//! `EventStore::open` repairs.

use std::path::{Path, PathBuf};

use sled::IVec;

use super::StreamId;
use super::error::StoreError;

/// The log's sled database, opened with no writer attached.
pub struct RawLog {
    db: sled::Db,
    events: sled::Tree,
    streams: sled::Tree,
    dir: PathBuf,
}

impl RawLog {
    /// Opens (or creates) the log under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("events");
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let db = sled::Config::new()
            .path(&path)
            // Appends flush themselves; a background flusher would only add
            // fsyncs that compete with the group commit.
            .flush_every_ms(None)
            .open()
            .map_err(|source| open_error(&path, source))?;
        let events = db
            .open_tree("events")
            .map_err(|source| open_error(&path, source))?;
        let streams = db
            .open_tree("streams")
            .map_err(|source| open_error(&path, source))?;
        Ok(Self {
            db,
            events,
            streams,
            dir: data_dir.to_path_buf(),
        })
    }

    /// Whether `data_dir` holds a log (without creating one).
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join("events").join("conf").exists()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The file beside the database that remembers the last acknowledged record.
    pub fn seal_path(&self) -> PathBuf {
        self.dir.join("events.head")
    }

    /// The raw records from `from` on, in order, each with its sequence.
    pub fn records(
        &self,
        from: u64,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, IVec), StoreError>> + '_ {
        self.events.range(from.to_be_bytes()..).map(|entry| {
            let (key, value) = entry.map_err(|source| StoreError::Storage {
                doing: "reading records",
                source,
            })?;
            Ok((seq_of(&key)?, value))
        })
    }

    pub fn record(&self, seq: u64) -> Result<Option<IVec>, StoreError> {
        self.events
            .get(seq.to_be_bytes())
            .map_err(|source| StoreError::Storage {
                doing: "reading a record",
                source,
            })
    }

    /// The highest-sequence record, if the log has any.
    pub fn last(&self) -> Result<Option<(u64, IVec)>, StoreError> {
        self.records(0).next_back().transpose()
    }

    /// The index entries of `stream` from `from_version` on: (version, seq).
    pub fn stream_index(
        &self,
        stream: StreamId,
        from_version: u64,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, u64), StoreError>> + '_ {
        let start = index_key(stream, from_version);
        let end = index_key(stream, u64::MAX);
        self.streams.range(start..=end).map(|entry| {
            let (key, value) = entry.map_err(|source| StoreError::Storage {
                doing: "reading the stream index",
                source,
            })?;
            let version = seq_of(&key[16..])?;
            Ok((version, seq_of(&value)?))
        })
    }

    /// The version the next event of `stream` gets: its event count.
    pub fn stream_len(&self, stream: StreamId) -> Result<u64, StoreError> {
        match self.stream_index(stream, 0).next_back().transpose()? {
            Some((version, _)) => Ok(version + 1),
            None => Ok(0),
        }
    }

    pub fn has_index_entry(&self, stream: StreamId, version: u64) -> Result<bool, StoreError> {
        self.streams
            .contains_key(index_key(stream, version))
            .map_err(|source| StoreError::Storage {
                doing: "reading the stream index",
                source,
            })
    }

    /// Writes records and their index entries, then flushes both to disk.
    pub(super) fn write(&self, records: sled::Batch, index: sled::Batch) -> Result<(), StoreError> {
        self.events
            .apply_batch(records)
            .map_err(|source| StoreError::Storage {
                doing: "writing records",
                source,
            })?;
        self.streams
            .apply_batch(index)
            .map_err(|source| StoreError::Storage {
                doing: "writing the stream index",
                source,
            })?;
        self.flush()
    }

    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|source| StoreError::Storage {
            doing: "flushing to disk",
            source,
        })?;
        Ok(())
    }

    /// Direct access for benchmarks that measure sled itself as a baseline.
    pub fn sled(&self) -> &sled::Db {
        &self.db
    }
}

pub(super) fn event_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(super) fn index_key(stream: StreamId, version: u64) -> [u8; 24] {
    let mut key = [0; 24];
    key[..16].copy_from_slice(stream.0.as_bytes());
    key[16..].copy_from_slice(&version.to_be_bytes());
    key
}

fn seq_of(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::BadKey { len: bytes.len() })?;
    Ok(u64::from_be_bytes(array))
}

fn open_error(path: &Path, source: sled::Error) -> StoreError {
    // sled reports its lock file being held as a plain I/O error.
    if let sled::Error::Io(io) = &source {
        let text = io.to_string();
        if io.kind() == std::io::ErrorKind::WouldBlock || text.contains("lock") {
            return StoreError::Locked {
                path: path.to_path_buf(),
            };
        }
    }
    StoreError::Open {
        path: path.to_path_buf(),
        source,
    }
}
