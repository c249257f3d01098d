//! `EventStore`: the log's public face. Opening checks the tail against the
//! seal; appends go to the group-commit writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::committer::{Committer, Request, Syncer};
use super::error::StoreError;
pub use super::position::{Appended, Head};
use super::raw_log::{Commit, RawLog};
use super::record::{MAX_PAYLOAD, RecordView};
use super::seal::{self, Seal, SealWriter};
use super::upcast::Upcasters;
use super::{Envelope, Event, Hash, StreamId, encode_payload};

/// The event log. Cheap to clone; the writer stops when the last clone drops.
///
/// ```
/// use deployflow::events::{Event, EventStore, StoreError, StreamId};
///
/// let dir = tempfile::tempdir()?;
/// let store = EventStore::open(dir.path())?;
/// let deployment = StreamId::new();
/// let failed = Event::Failed { reason: "backend unreachable".into() };
///
/// // A new stream holds 0 events; the append says so.
/// let appended = store.append_blocking(deployment, 0, &[failed.clone()])?;
/// assert_eq!(appended.next_version(), 1);
///
/// // A writer that has not seen that event is refused, not interleaved.
/// let stale = store.append_blocking(deployment, 0, &[failed.clone()]);
/// assert!(matches!(stale, Err(StoreError::Conflict { actual: 1, .. })));
///
/// let events = store.read_stream(deployment, 0)?;
/// assert_eq!(events[0].event, failed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    upcasters: Upcasters,
    /// Published by each writer's syncer in turn; kept across reopens so
    /// subscribers never see the log go back.
    head_tx: Arc<watch::Sender<Head>>,
    head: watch::Receiver<Head>,
    commits: Arc<AtomicU64>,
    slot: RwLock<Slot>,
    /// One reopen at a time.
    reopening: Mutex<()>,
    /// A torn, unacknowledged last commit dropped at open.
    recovered: Option<super::recover::Recovery>,
}

/// The log as it is now: open with its writer, or closed between a
/// writer that failed and the next open.
enum Slot {
    Open(Arc<Writer>),
    Closed(String),
}

/// One opening of the log: sled's database and the two threads that
/// write it. Dropped whole (threads joined, sled closed) before a reopen,
/// since sled keeps a failed IO as its state and holds the file's lock.
struct Writer {
    log: Arc<RawLog>,
    requests: Option<mpsc::Sender<Request>>,
    /// The committer, then the syncer.
    threads: Vec<JoinHandle<()>>,
}

impl Writer {
    /// Closes the request channel, which ends the committer's loop and then
    /// the syncer's once everything already sent is answered, and waits up
    /// to `grace` for both threads (a thread sled left waiting could wait
    /// forever). False if one is still running.
    fn stop(&mut self, grace: Duration) -> bool {
        self.requests.take();
        let deadline = std::time::Instant::now() + grace;
        loop {
            if self.threads.iter().all(JoinHandle::is_finished) {
                for thread in self.threads.drain(..) {
                    let _ = thread.join();
                }
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A writer `close` already stopped, or gave up on, is not waited
        // for again.
        if self.requests.is_some() && !self.stop(STOP_GRACE) {
            tracing::error!("the event log's writer threads did not stop; left running");
        }
    }
}

/// A read handle on the open log (for `verify`): a reopen waits for it.
pub struct LogRef(Arc<Writer>);

impl std::ops::Deref for LogRef {
    type Target = RawLog;

    fn deref(&self) -> &RawLog {
        &self.0.log
    }
}

/// How long closing a writer waits for its threads to end.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a reopen waits for readers of the failed log to finish.
const READERS_GRACE: Duration = Duration::from_secs(5);

/// The log opened and checked, its writer not started yet.
struct Opened {
    log: Arc<RawLog>,
    recovered: Option<super::recover::Recovery>,
    head: Head,
    seal: SealWriter,
}

impl Opened {
    fn open(data_dir: &Path) -> Result<Opened, StoreError> {
        let log = Arc::new(RawLog::open(data_dir)?);
        let recovered = super::recover::torn_tail(&log)?;
        if let Some(recovery) = &recovered {
            tracing::warn!("{recovery}");
        }
        let head = read_head(&log)?;
        check_against_seal(&log, head)?;
        let seal = SealWriter::open(&log.seal_path())?;
        seal.write_durably(Seal {
            count: head.next_seq,
            last_hash: head.last_hash,
        })?;
        Ok(Opened {
            log,
            recovered,
            head,
            seal,
        })
    }

    /// Starts the committer and the syncer on this opening.
    fn start(
        self,
        head_tx: Arc<watch::Sender<Head>>,
        commits: Arc<AtomicU64>,
    ) -> Result<Writer, StoreError> {
        let (requests, receiver) = mpsc::channel();
        let (to_syncer, syncer_rx) = mpsc::channel();
        let committer = Committer {
            log: self.log.clone(),
            head: self.head,
            syncer: to_syncer,
            stream_lens: HashMap::new(),
        };
        let syncer = Syncer {
            log: self.log.clone(),
            seal: self.seal,
            head_tx,
            commits,
        };
        let data_dir = self.log.data_dir().to_path_buf();
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(work)
                .map_err(|source| StoreError::Io {
                    path: data_dir.clone(),
                    source,
                })
        };
        let mut writer = Writer {
            log: self.log,
            requests: Some(requests),
            threads: Vec::with_capacity(2),
        };
        writer.threads.push(spawn(
            "event-log-committer",
            Box::new(move || committer.run(receiver)),
        )?);
        writer.threads.push(spawn(
            "event-log-syncer",
            Box::new(move || syncer.run(syncer_rx)),
        )?);
        Ok(writer)
    }
}

impl EventStore {
    /// Opens (or creates) the log under `data_dir`, reading schema versions
    /// up to this build's.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, Upcasters::standard())
    }

    pub fn open_with(data_dir: &Path, upcasters: Upcasters) -> Result<Self, StoreError> {
        let opened = Opened::open(data_dir)?;
        let recovered = opened.recovered;
        let (head_tx, head_rx) = watch::channel(opened.head);
        let head_tx = Arc::new(head_tx);
        let commits = Arc::new(AtomicU64::new(0));
        let writer = opened.start(head_tx.clone(), commits.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                upcasters,
                head_tx,
                head: head_rx,
                commits,
                slot: RwLock::new(Slot::Open(Arc::new(writer))),
                reopening: Mutex::new(()),
                recovered,
            }),
        })
    }

    /// Why appends are refused: the disk is too full for the next commit
    /// (until space is freed), or a write or a sync failed or sled met an
    /// IO error reading (until `reopen` succeeds). The health check says so.
    pub fn writer_stopped(&self) -> Option<String> {
        match &*self.slot() {
            Slot::Open(writer) => writer.log.stopped().or_else(|| {
                let short = writer.log.short_of_space()?;
                Some(short.to_string())
            }),
            Slot::Closed(reason) => Some(reason.clone()),
        }
    }

    /// After a failed write, closes the log and opens it again, so appends
    /// can succeed once the cause is gone (space freed): sled keeps a
    /// failed IO as its state, so only a new opening reads its real tail.
    /// What the failed writer had written but not acknowledged is kept if
    /// it reached the disk whole, as after a crash; nothing acknowledged is
    /// lost, since opening checks the log against the seal. `Ok(false)`
    /// when the writer had not stopped.
    pub fn reopen(&self) -> Result<bool, StoreError> {
        let _one = self
            .inner
            .reopening
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let failed = {
            let mut slot = self.inner.slot.write().unwrap_or_else(|p| p.into_inner());
            let reason = match &*slot {
                Slot::Open(writer) => match writer.log.stopped() {
                    None => return Ok(false),
                    Some(reason) => reason,
                },
                Slot::Closed(reason) => reason.clone(),
            };
            std::mem::replace(&mut *slot, Slot::Closed(reason))
        };
        if let Slot::Open(writer) = failed {
            self.close(writer)?;
        }
        let result = Opened::open(&self.inner.data_dir).and_then(|opened| {
            let head = opened.head;
            let writer = opened.start(self.inner.head_tx.clone(), self.inner.commits.clone())?;
            Ok((head, writer))
        });
        let mut slot = self.inner.slot.write().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((head, writer)) => {
                *slot = Slot::Open(Arc::new(writer));
                // Records the failed writer wrote whole are the log's now.
                self.inner.head_tx.send_if_modified(|published| {
                    let grew = head.next_seq > published.next_seq;
                    if grew {
                        *published = head;
                    }
                    grew
                });
                Ok(true)
            }
            Err(e) => {
                *slot = Slot::Closed(format!("the event log cannot be opened again: {e}"));
                Err(e)
            }
        }
    }

    /// Ends a failed writer once its readers are done: its threads joined,
    /// sled's database closed and its lock released.
    fn close(&self, writer: Arc<Writer>) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + READERS_GRACE;
        let mut writer = writer;
        loop {
            match Arc::try_unwrap(writer) {
                Ok(mut alone) => {
                    if alone.stop(STOP_GRACE) {
                        return Ok(());
                    }
                    // sled's lock goes with the threads that hold it.
                    return Err(StoreError::Poisoned(
                        "the event log's writer threads did not stop, so it cannot be opened again"
                            .into(),
                    ));
                }
                Err(shared) if std::time::Instant::now() < deadline => {
                    writer = shared;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(shared) => {
                    // Put back: the next reopen tries again.
                    let reason = shared.log.stopped().unwrap_or_default();
                    *self.inner.slot.write().unwrap_or_else(|p| p.into_inner()) =
                        Slot::Open(shared);
                    return Err(StoreError::Poisoned(format!(
                        "{reason} (a reader still holds the log; reopening later)"
                    )));
                }
            }
        }
    }

    fn slot(&self) -> std::sync::RwLockReadGuard<'_, Slot> {
        self.inner.slot.read().unwrap_or_else(|p| p.into_inner())
    }

    fn writer(&self) -> Result<Arc<Writer>, StoreError> {
        match &*self.slot() {
            Slot::Open(writer) => Ok(writer.clone()),
            Slot::Closed(reason) => Err(StoreError::Poisoned(reason.clone())),
        }
    }

    /// What opening had to recover from: a torn last commit that no append
    /// had acknowledged, dropped.
    pub fn recovered(&self) -> Option<super::recover::Recovery> {
        self.inner.recovered
    }

    /// Appends `events` to `stream`, which must hold exactly
    /// `expected_version` events; returns once they are on disk.
    pub async fn append(
        &self,
        stream: StreamId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<Appended, StoreError> {
        let reply = self.send(stream, expected_version, events)?;
        reply.await.map_err(|_| StoreError::Closed)?
    }

    /// `append` for threads outside an async runtime (it panics inside one,
    /// as every blocking wait on a tokio channel does).
    pub fn append_blocking(
        &self,
        stream: StreamId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<Appended, StoreError> {
        let reply = self.send(stream, expected_version, events)?;
        reply.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    fn send(
        &self,
        stream: StreamId,
        expected: u64,
        events: &[Event],
    ) -> Result<oneshot::Receiver<Result<Appended, StoreError>>, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        // Encoding happens on the caller's thread so the writer only hashes.
        let payloads = events
            .iter()
            .map(|event| {
                let payload = encode_payload(event).map_err(StoreError::Encode)?;
                if payload.len() > MAX_PAYLOAD {
                    return Err(StoreError::TooLarge {
                        kind: event.kind().name(),
                        len: payload.len(),
                        max: MAX_PAYLOAD,
                    });
                }
                Ok(payload)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, receiver) = oneshot::channel();
        let writer = self.writer()?;
        let requests = writer.requests.as_ref().ok_or(StoreError::Closed)?;
        requests
            .send(Request {
                stream,
                expected,
                payloads,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        Ok(receiver)
    }

    /// The events of `stream` from `from_version` on, in order.
    pub fn read_stream(
        &self,
        stream: StreamId,
        from_version: u64,
    ) -> Result<Vec<Envelope>, StoreError> {
        let writer = self.writer()?;
        let log = &writer.log;
        let durable = self.head().next_seq;
        let mut commit: Option<Commit> = None;
        let mut out = Vec::new();
        for entry in log.stream_index(stream, from_version) {
            let (version, seq) = entry?;
            if seq >= durable {
                break;
            }
            // A stream's events often share a commit: parse each one once.
            if !commit.as_ref().is_some_and(|c| c.contains(seq)) {
                commit = log.commit_of(seq)?;
            }
            let bytes = commit.as_ref().and_then(|c| c.record(seq));
            let bytes = bytes.ok_or_else(|| StoreError::Inconsistent {
                seq,
                message: format!(
                    "the index places {stream} version {version} here, but there is no record"
                ),
            })?;
            let envelope = Envelope::decode(seq, &bytes, &self.inner.upcasters)?;
            if envelope.stream != stream || envelope.version != version {
                return Err(StoreError::Inconsistent {
                    seq,
                    message: format!(
                        "the index places {stream} version {version} here, but the record is {} version {}",
                        envelope.stream, envelope.version
                    ),
                });
            }
            out.push(envelope);
        }
        Ok(out)
    }

    /// Every event from global sequence `from` on, in order.
    pub fn read_from(&self, from: u64) -> impl Iterator<Item = Result<Envelope, StoreError>> + '_ {
        // Records are visible in sled before their flush ends; one that is not
        // yet durable could vanish in a crash and its sequence be reused, so
        // readers (projections above all) stop at the acknowledged head.
        let durable = self.head().next_seq;
        let (records, closed) = match self.writer() {
            Ok(writer) => (Some((writer.log.records(from), writer)), None),
            Err(e) => (None, Some(e)),
        };
        // The writer travels with the iteration, so a reopen waits for it.
        let records = records.into_iter().flat_map(|(records, writer)| {
            records.inspect(move |_| {
                let _reading = &writer;
            })
        });
        closed.into_iter().map(Err).chain(
            records
                .take_while(move |entry| entry.as_ref().map_or(true, |(seq, _)| *seq < durable))
                .map(|entry| {
                    let (seq, bytes) = entry?;
                    Envelope::decode(seq, &bytes, &self.inner.upcasters)
                }),
        )
    }

    pub fn head(&self) -> Head {
        *self.inner.head.borrow()
    }

    /// A receiver that changes after every commit. It only signals: readers
    /// catch up with `read_from` from their own checkpoint.
    pub fn subscribe(&self) -> watch::Receiver<Head> {
        self.inner.head.clone()
    }

    /// Group commits made durable (each one fdatasync) since the store was opened.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// The open log, for walks over its raw records (`verify`).
    pub fn raw(&self) -> Result<LogRef, StoreError> {
        self.writer().map(LogRef)
    }
}

fn read_head(log: &RawLog) -> Result<Head, StoreError> {
    let Some((seq, bytes)) = log.last()? else {
        return Ok(Head {
            next_seq: 0,
            last_hash: Hash::ZERO,
        });
    };
    let view = RecordView::parse(&bytes).map_err(|source| StoreError::Corrupt { seq, source })?;
    if view.header.seq != seq {
        return Err(StoreError::Inconsistent {
            seq,
            message: format!("it says it is record {}", view.header.seq),
        });
    }
    if !view.hash_matches() {
        return Err(StoreError::Inconsistent {
            seq,
            message: "its hash does not match its content".into(),
        });
    }
    Ok(Head {
        next_seq: seq + 1,
        last_hash: view.header.hash,
    })
}

/// Refuses a log that holds fewer records than were acknowledged, or whose
/// record at the seal is not the one acknowledged.
fn check_against_seal(log: &RawLog, head: Head) -> Result<(), StoreError> {
    let path = log.seal_path();
    let state = seal::read(&path)?;
    seal::check(&path, state, head.next_seq, head.last_hash, |seq| {
        record_hash(log, seq)
    })
    .map_err(|mismatch| StoreError::Inconsistent {
        seq: mismatch.seq,
        message: mismatch.reason,
    })
}

/// The stored hash of record `seq`, checked for CRC and content.
pub(super) fn record_hash(log: &RawLog, seq: u64) -> Result<Option<Hash>, StoreError> {
    let Some(bytes) = log.record(seq)? else {
        return Ok(None);
    };
    let view = RecordView::parse(&bytes).map_err(|source| StoreError::Corrupt { seq, source })?;
    Ok(Some(view.header.hash))
}

#[cfg(test)]
mod tests {
    use super::super::samples::sample;
    use super::super::{EventKind, verify};
    use super::*;

    fn event() -> Event {
        sample(EventKind::DeploymentRequested)
    }

    /// What a sled IO error does to an opening (`Poison::storage`), without
    /// filling a disk: appends are refused, a reopen waits for a reader to
    /// let go, and the new opening goes on exactly where the log ends.
    #[test]
    fn a_stopped_writer_is_opened_again_and_goes_on_where_the_log_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let stream = StreamId::new();
        store.append_blocking(stream, 0, &[event()]).unwrap();
        assert!(
            !store.reopen().unwrap(),
            "nothing to reopen while it writes"
        );

        store.writer().unwrap().log.poison().set("injected".into());
        assert_eq!(store.writer_stopped().as_deref(), Some("injected"));
        let refused = store.append_blocking(stream, 1, &[event()]);
        assert!(
            matches!(refused, Err(StoreError::Poisoned(_))),
            "{refused:?}"
        );

        // A reader of the stopped opening delays the reopen, not forever.
        let reader = store.raw().unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(reader);
        });
        assert!(store.reopen().unwrap());
        release.join().unwrap();
        assert_eq!(store.writer_stopped(), None);

        let appended = store.append_blocking(stream, 1, &[event()]).unwrap();
        assert_eq!((appended.first_seq, appended.first_version), (1, 1));
        assert_eq!(store.head().next_seq, 2);
        assert_eq!(store.read_stream(stream, 0).unwrap().len(), 2);
        assert!(verify(&store.raw().unwrap()).is_whole());
    }
}
