//! `EventStore`: the log's public face. Opening checks the tail against the
//! seal; appends go to the group-commit writer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};

use super::committer::{Committer, Poison, Request, Syncer};
use super::error::StoreError;
use super::raw_log::{Commit, RawLog};
use super::record::{MAX_PAYLOAD, RecordView};
use super::seal::{self, Seal, SealWriter};
use super::upcast::Upcasters;
use super::{Envelope, Event, Hash, StreamId, encode_payload};

/// Where the log ends: the sequence the next record gets and the hash it chains to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub next_seq: u64,
    pub last_hash: Hash,
}

/// What an append wrote: `count` events from `first_seq` and `first_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub stream: StreamId,
    pub first_seq: u64,
    pub first_version: u64,
    pub count: u64,
}

impl Appended {
    /// The stream's length after this append: the next append's expected version.
    pub fn next_version(&self) -> u64 {
        self.first_version + self.count
    }
}

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
    log: Arc<RawLog>,
    upcasters: Upcasters,
    head: watch::Receiver<Head>,
    commits: Arc<AtomicU64>,
    requests: Option<mpsc::Sender<Request>>,
    /// The committer, then the syncer.
    threads: Vec<JoinHandle<()>>,
    /// A torn, unacknowledged last commit dropped at open.
    recovered: Option<super::recover::Recovery>,
    /// Set once a write or a sync failed: nothing is written after it.
    poison: Arc<Poison>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the committer's loop, which closes the
        // syncer's, once everything already sent is answered.
        self.requests.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl EventStore {
    /// Opens (or creates) the log under `data_dir`, reading schema versions
    /// up to this build's.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, Upcasters::standard())
    }

    pub fn open_with(data_dir: &Path, upcasters: Upcasters) -> Result<Self, StoreError> {
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
        let (head_tx, head_rx) = watch::channel(head);
        let (requests, receiver) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let (to_syncer, syncer_rx) = mpsc::channel();
        let poison = Arc::new(Poison::default());
        let stopped = poison.clone();
        let committer = Committer {
            log: log.clone(),
            head,
            syncer: to_syncer,
            poison: poison.clone(),
            stream_lens: HashMap::new(),
        };
        let syncer = Syncer {
            log: log.clone(),
            seal,
            head_tx,
            poison,
            commits: commits.clone(),
        };
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(work)
                .map_err(|source| StoreError::Io {
                    path: data_dir.to_path_buf(),
                    source,
                })
        };
        let threads = vec![
            spawn(
                "event-log-committer",
                Box::new(move || committer.run(receiver)),
            )?,
            spawn("event-log-syncer", Box::new(move || syncer.run(syncer_rx)))?,
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                log,
                upcasters,
                head: head_rx,
                commits,
                requests: Some(requests),
                threads,
                recovered,
                poison: stopped,
            }),
        })
    }

    /// Why the writer stopped, once a write or a sync failed (a full disk,
    /// say): appends are refused from then on, and the health check says so.
    pub fn writer_stopped(&self) -> Option<String> {
        self.inner.poison.reason()
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
        let requests = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
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
        let log = &self.inner.log;
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
        self.inner
            .log
            .records(from)
            .take_while(move |entry| entry.as_ref().map_or(true, |(seq, _)| *seq < durable))
            .map(|entry| {
                let (seq, bytes) = entry?;
                Envelope::decode(seq, &bytes, &self.inner.upcasters)
            })
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

    pub fn raw(&self) -> &RawLog {
        &self.inner.log
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
