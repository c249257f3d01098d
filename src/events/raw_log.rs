//! The sled layer: where records and the stream index live, and nothing else.
//!
//! One sled tree, `log`, holds two key spaces:
//! - records: the big-endian u64 sequence of a commit's first record -> the
//!   commit's records (see `segment` and `record`);
//! - the stream index: 0xFF ++ stream id (16 bytes) ++ big-endian u64
//!   version -> sequence.
//!
//! Sequences stay below 2^56, so every record key starts with 0x00 and sorts
//! before the index. Sharing one tree lets a commit write its records and
//! their index entries in one sled batch, which sled applies atomically (a
//! crash never leaves one without the other), and costs one log reservation
//! instead of two: measured, a second tree's batch made each flush about a
//! third slower.

use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sled::IVec;

use super::StreamId;
use super::error::StoreError;
use super::segment;

/// The log's sled database, opened with no writer attached.
pub struct RawLog {
    db: sled::Db,
    /// sled's data file, opened again for `fdatasync`.
    file: std::fs::File,
    tree: sled::Tree,
    dir: PathBuf,
    /// Shared with the iterators reading it, which can meet sled's IO
    /// error as well.
    poison: Arc<Poison>,
    /// The free space the last refused commit needed, until one is written.
    short_of: Mutex<Option<u64>>,
}

/// Set after a failed write or sync, or any IO error sled met, reading
/// or writing: sled keeps a failed IO as its state (every later call
/// fails with it) and what reached the disk is unknown, so nothing more is
/// written or acknowledged until the log is opened again and reads its
/// real tail. Every sled error of this opening goes through `storage`.
#[derive(Default)]
pub(super) struct Poison(Mutex<Option<String>>);

impl Poison {
    pub(super) fn reason(&self) -> Option<String> {
        self.0.lock().ok().and_then(|reason| reason.clone())
    }

    /// Keeps the first reason: what broke the log, not its echoes.
    pub(super) fn set(&self, reason: String) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(reason);
        }
    }

    /// The error for a failed sled call; an IO error stops the writer.
    fn storage(&self, doing: &'static str, source: sled::Error) -> StoreError {
        let io = matches!(source, sled::Error::Io(_));
        let error = StoreError::Storage { doing, source };
        if io {
            self.set(error.to_string());
        }
        error
    }
}

/// The first byte of every stream index key.
pub(super) const INDEX_PREFIX: u8 = 0xFF;

/// An exclusive bound after every record key and before every index key.
const END_OF_RECORDS: [u8; 8] = [INDEX_PREFIX, 0, 0, 0, 0, 0, 0, 0];

/// Record keys must start with 0x00 to sort before the index.
pub const MAX_SEQ: u64 = (1 << 56) - 1;

impl RawLog {
    /// Opens (or creates) the log under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("events");
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let db = open_db(&path)?;
        let tree = db
            .open_tree("log")
            .map_err(|source| open_error(&path, source))?;
        let data_file = path.join("db");
        let file = std::fs::File::open(&data_file).map_err(|source| StoreError::Io {
            path: data_file,
            source,
        })?;
        Ok(Self {
            db,
            file,
            tree,
            dir: data_dir.to_path_buf(),
            poison: Arc::default(),
            short_of: Mutex::new(None),
        })
    }

    /// Whether `data_dir` holds a log (without creating one).
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join("events").join("conf").exists()
    }

    /// Why this opening stopped taking writes, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.poison.reason()
    }

    pub(super) fn poison(&self) -> &Poison {
        &self.poison
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The file beside the database that remembers the last acknowledged record.
    pub fn seal_path(&self) -> PathBuf {
        self.dir.join("events.head")
    }

    /// The raw records from `from` on, in order, each with the sequence its
    /// place in the log gives it. The first error ends the iteration.
    pub fn records(&self, from: u64) -> Records {
        let start = match self.segment_before(from) {
            Ok(Some((key, _))) => key,
            Ok(None) => from.min(MAX_SEQ + 1),
            Err(e) => return Records::failed(e, self.poison.clone()),
        };
        Records {
            poison: self.poison.clone(),
            segments: Some(self.tree.range(event_key(start)..END_OF_RECORDS)),
            current: None,
            next_key: None,
            from,
            error: None,
        }
    }

    /// The record stored under `seq`, if the log has it.
    pub fn record(&self, seq: u64) -> Result<Option<RecordBytes>, StoreError> {
        Ok(self.commit_of(seq)?.and_then(|commit| commit.record(seq)))
    }

    /// The commit (segment) holding record `seq`, if the log has it.
    pub fn commit_of(&self, seq: u64) -> Result<Option<Commit>, StoreError> {
        let Some((key, segment)) = self.segment_before(seq)? else {
            return Ok(None);
        };
        let commit = Commit::parse(key, segment)?;
        Ok(commit.contains(seq).then_some(commit))
    }

    /// The highest-sequence record, if the log has any.
    pub fn last(&self) -> Result<Option<(u64, RecordBytes)>, StoreError> {
        let last_segment = self.last_segment_in(..END_OF_RECORDS)?;
        let Some((key, segment)) = last_segment else {
            return Ok(None);
        };
        let commit = Commit::parse(key, segment)?;
        let seq = commit.end() - 1;
        Ok(commit.record(seq).map(|record| (seq, record)))
    }

    /// The last commit's first sequence and raw segment, unparsed.
    pub fn last_segment(&self) -> Result<Option<(u64, IVec)>, StoreError> {
        self.last_segment_in(..END_OF_RECORDS)
    }

    /// The segment whose first sequence is the highest at or below `seq`.
    fn segment_before(&self, seq: u64) -> Result<Option<(u64, IVec)>, StoreError> {
        if seq > MAX_SEQ {
            // Such a key would reach into the stream index.
            return self.last_segment_in(..END_OF_RECORDS);
        }
        self.last_segment_in(..=event_key(seq))
    }

    fn last_segment_in(
        &self,
        range: impl std::ops::RangeBounds<[u8; 8]>,
    ) -> Result<Option<(u64, IVec)>, StoreError> {
        let entry = self.tree.range(range).next_back().transpose();
        let entry = entry.map_err(|source| self.poison.storage("finding a record", source))?;
        entry
            .map(|(key, value)| Ok((seq_of(&key)?, value)))
            .transpose()
    }

    /// The index entries of `stream` from `from_version` on: (version, seq).
    pub fn stream_index(
        &self,
        stream: StreamId,
        from_version: u64,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, u64), StoreError>> + '_ {
        let start = index_key(stream, from_version);
        let end = index_key(stream, u64::MAX);
        self.tree.range(start..=end).map(|entry| {
            let (key, value) =
                entry.map_err(|source| self.poison.storage("reading the stream index", source))?;
            let version = seq_of(&key[17..])?;
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

    /// Writes a commit (its segment and index entries) atomically and has
    /// sled flush it. On Linux that is sync_file_range: the data reaches the
    /// device, but the file's new size and extents and the device's write
    /// cache do not, so a commit is durable only after `sync_data`.
    pub(super) fn write(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.tree
            .apply_batch(batch)
            .map_err(|source| self.poison.storage("writing records", source))?;
        self.db
            .flush()
            .map_err(|source| self.poison.storage("flushing to disk", source))?;
        Ok(())
    }

    /// Refuses a commit of `len` bytes that would leave less than
    /// `MIN_FREE_BYTES` on the log's disk, before sled sees it. sled 0.34
    /// does not survive running out of space: a write that fails for want
    /// of it can leave its flush, and every later one, waiting forever, and
    /// its database impossible to close, so the log could not be opened
    /// again without a restart. Refused here, a commit fails cleanly and
    /// the next one is written once space is freed. A disk whose free
    /// space cannot be read is written to, as before.
    /// `Err` holds the bytes free.
    pub(super) fn room_for(&self, len: usize) -> Result<(), u64> {
        let needed = MIN_FREE_BYTES.saturating_add(len as u64);
        let free = self.free_space().unwrap_or(u64::MAX);
        let mut short_of = self.short_of.lock().unwrap_or_else(|p| p.into_inner());
        if free >= needed {
            *short_of = None;
            return Ok(());
        }
        *short_of = Some(needed);
        Err(free)
    }

    /// Why appends are refused for want of space, while they still would be.
    pub fn short_of_space(&self) -> Option<StoreError> {
        let needed = (*self.short_of.lock().unwrap_or_else(|p| p.into_inner()))?;
        let free = self.free_space().unwrap_or(u64::MAX);
        (free < needed).then_some(StoreError::NoSpace {
            free,
            floor: MIN_FREE_BYTES,
        })
    }

    /// The bytes an unprivileged writer can still use on the log's disk.
    fn free_space(&self) -> Option<u64> {
        let stat = nix::sys::statvfs::statvfs(&self.dir).ok()?;
        // Both are u64 on Linux; the conversion keeps other targets building.
        #[allow(clippy::useless_conversion)]
        let (blocks, size) = (
            u64::from(stat.blocks_available()),
            u64::from(stat.fragment_size()),
        );
        Some(blocks.saturating_mul(size))
    }

    /// fdatasync of sled's file: makes everything flushed before it durable.
    pub(super) fn sync_data(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|source| StoreError::Io {
            path: self.dir.join("events").join("db"),
            source,
        })
    }

    /// Direct access for benchmarks that measure sled itself as a baseline,
    /// and for tests that damage a copy of a log on purpose.
    pub fn sled(&self) -> &sled::Db {
        &self.db
    }

    /// The tree holding records and index, for the same tests.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }
}

/// The free space a commit leaves on the log's disk: sled grows its file
/// by 512 KiB segments and the read model's checkpoints share the disk.
pub const MIN_FREE_BYTES: u64 = 2 << 20;

/// How long an open waits for a log that is being closed to let go of it.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled. sled releases its file lock from background threads a moment
/// after the last handle drops, so a log just closed (by this process, or
/// by another one exiting) is waited for briefly before it counts as held.
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            // Appends flush themselves; a background flusher would only add
            // fsyncs that compete with the group commit.
            .flush_every_ms(None)
            .open()
            .map_err(|source| open_error(path, source));
        match opened {
            Err(StoreError::Locked { .. }) if started.elapsed() < LOCK_GRACE => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

pub(super) fn event_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn index_key(stream: StreamId, version: u64) -> [u8; 25] {
    let mut key = [0; 25];
    key[0] = INDEX_PREFIX;
    key[1..17].copy_from_slice(stream.0.as_bytes());
    key[17..].copy_from_slice(&version.to_be_bytes());
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

/// One record's bytes, sharing its segment's buffer.
#[derive(Clone)]
pub struct RecordBytes {
    segment: IVec,
    range: Range<usize>,
}

impl Deref for RecordBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.segment[self.range.clone()]
    }
}

/// One commit's segment, split into its records.
pub struct Commit {
    pub first_seq: u64,
    segment: IVec,
    ranges: Vec<Range<usize>>,
}

impl Commit {
    fn parse(first_seq: u64, segment: IVec) -> Result<Self, StoreError> {
        let mut ranges = Vec::new();
        for range in segment::ranges(&segment) {
            let seq = first_seq + ranges.len() as u64;
            ranges.push(range.map_err(|source| StoreError::Corrupt { seq, source })?);
        }
        if ranges.is_empty() {
            return Err(empty_commit(first_seq));
        }
        Ok(Self {
            first_seq,
            segment,
            ranges,
        })
    }

    /// The sequence after this commit's last record.
    pub fn end(&self) -> u64 {
        self.first_seq + self.ranges.len() as u64
    }

    pub fn contains(&self, seq: u64) -> bool {
        (self.first_seq..self.end()).contains(&seq)
    }

    pub fn record(&self, seq: u64) -> Option<RecordBytes> {
        let range = self.range_of(seq)?;
        Some(RecordBytes {
            segment: self.segment.clone(),
            range,
        })
    }

    /// Where record `seq` sits in the segment's bytes.
    pub fn range_of(&self, seq: u64) -> Option<Range<usize>> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.ranges.get(index).cloned()
    }

    pub fn segment(&self) -> &IVec {
        &self.segment
    }
}

fn empty_commit(seq: u64) -> StoreError {
    StoreError::Inconsistent {
        seq,
        message: "a commit stored here holds no records".into(),
    }
}

/// The iterator of `RawLog::records`.
pub struct Records {
    poison: Arc<Poison>,
    segments: Option<sled::Iter>,
    current: Option<Segment>,
    /// Where the next segment must start: no earlier, or it overlaps.
    next_key: Option<u64>,
    from: u64,
    error: Option<StoreError>,
}

/// The segment `Records` is reading: its bytes, the offset of the next
/// record and that record's sequence.
struct Segment {
    bytes: IVec,
    offset: usize,
    seq: u64,
}

impl Records {
    fn failed(error: StoreError, poison: Arc<Poison>) -> Self {
        Self {
            poison,
            segments: None,
            current: None,
            next_key: None,
            from: 0,
            error: Some(error),
        }
    }

    fn fail(&mut self, error: StoreError) -> Option<Result<(u64, RecordBytes), StoreError>> {
        self.segments = None;
        self.current = None;
        Some(Err(error))
    }

    fn open_segment(&mut self, key: &[u8], bytes: IVec) -> Result<(), StoreError> {
        let key = seq_of(key)?;
        if let Some(expected) = self.next_key.filter(|expected| key < *expected) {
            return Err(StoreError::Inconsistent {
                seq: key,
                message: format!(
                    "a commit starts here, inside the commit before it (which ends at {expected})"
                ),
            });
        }
        if bytes.is_empty() {
            return Err(empty_commit(key));
        }
        self.current = Some(Segment {
            bytes,
            offset: 0,
            seq: key,
        });
        Ok(())
    }
}

impl Iterator for Records {
    type Item = Result<(u64, RecordBytes), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.error.take() {
            return self.fail(error);
        }
        loop {
            if let Some(segment) = &mut self.current {
                let seq = segment.seq;
                match segment::next_range(&segment.bytes, segment.offset) {
                    None => {
                        self.next_key = Some(seq);
                        self.current = None;
                    }
                    Some(Err(source)) => return self.fail(StoreError::Corrupt { seq, source }),
                    Some(Ok(range)) => {
                        segment.offset = range.end;
                        segment.seq += 1;
                        if seq < self.from {
                            continue;
                        }
                        let record = RecordBytes {
                            segment: segment.bytes.clone(),
                            range,
                        };
                        return Some(Ok((seq, record)));
                    }
                }
            }
            let (key, bytes) = match self.segments.as_mut()?.next()? {
                Ok(entry) => entry,
                Err(source) => {
                    let error = self.poison.storage("reading records", source);
                    return self.fail(error);
                }
            };
            if let Err(e) = self.open_segment(&key, bytes) {
                return self.fail(e);
            }
        }
    }
}
