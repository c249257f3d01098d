//! The writer behind `EventStore::append`: group commit in two stages.
//!
//! The committer takes every request waiting, checks each one's expected
//! stream version, gives the accepted ones consecutive sequences, chains
//! their hashes, writes them as one sled batch and has sled flush it (which
//! on Linux is sync_file_range: the data reaches the device). It hands the
//! commit to the syncer and goes on with the next requests. The syncer takes
//! every commit handed over so far, fdatasyncs sled's file once (the new
//! size, extents and the device's cache), rewrites the seal, and only then
//! answers their requests. Concurrent writers share both syncs, and the next
//! commit's work overlaps the disk's work on the last one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use chrono::Utc;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::error::StoreError;
use super::position::{Appended, Head};
use super::raw_log::{MAX_SEQ, MIN_FREE_BYTES, RawLog, event_key, index_key};
use super::record::Header;
use super::seal::{Seal, SealWriter};
use super::segment;
use super::{Hash, SCHEMA_VERSION, StreamId};

/// More than this many events waiting are left for the next commit, which
/// bounds one commit's memory and latency.
const MAX_EVENTS_PER_COMMIT: usize = 4096;

pub(super) struct Request {
    pub stream: StreamId,
    pub expected: u64,
    pub payloads: Vec<Vec<u8>>,
    pub reply: Reply,
}

type Reply = oneshot::Sender<Result<Appended, StoreError>>;

/// A commit written and flushed by sled, waiting for the fdatasync.
pub(super) struct Flushed {
    head: Head,
    replies: Vec<(Reply, Appended)>,
}

pub(super) struct Committer {
    pub log: Arc<RawLog>,
    /// Where the log ends once everything handed to the syncer is synced.
    pub head: Head,
    pub syncer: Sender<Flushed>,
    /// Known stream lengths; a stream not here is looked up in the index.
    pub stream_lens: HashMap<StreamId, u64>,
}

pub(super) struct Syncer {
    pub log: Arc<RawLog>,
    pub seal: SealWriter,
    pub head_tx: Arc<watch::Sender<Head>>,
    /// Syncs done so far, for `EventStore::commits`.
    pub commits: Arc<AtomicU64>,
}

impl Committer {
    pub fn run(mut self, requests: Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut events = first.payloads.len();
            let mut batch = vec![first];
            while events < MAX_EVENTS_PER_COMMIT {
                match requests.try_recv() {
                    Ok(request) => {
                        events += request.payloads.len();
                        batch.push(request);
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(reason) = self.log.poison().reason() {
            for request in batch {
                let _ = request
                    .reply
                    .send(Err(StoreError::Poisoned(reason.clone())));
            }
            return;
        }
        let mut head = self.head;
        let mut writes = sled::Batch::default();
        let commit_first_seq = head.next_seq;
        let mut records = Vec::new();
        let mut accepted = Vec::with_capacity(batch.len());
        let recorded_at = Utc::now();
        for request in batch {
            // Lengths are cached as soon as a request is accepted: if the
            // write then fails, the writer is poisoned and the cache unused.
            let len = match self.stream_len(request.stream) {
                Ok(len) => len,
                Err(e) => {
                    let _ = request.reply.send(Err(e));
                    continue;
                }
            };
            if len != request.expected {
                let _ = request.reply.send(Err(StoreError::Conflict {
                    stream: request.stream,
                    expected: request.expected,
                    actual: len,
                }));
                continue;
            }
            let count = request.payloads.len() as u64;
            if head.next_seq + count > MAX_SEQ {
                let _ = request.reply.send(Err(StoreError::Full { max: MAX_SEQ }));
                continue;
            }
            let first_seq = head.next_seq;
            for (offset, payload) in request.payloads.iter().enumerate() {
                let header = Header {
                    seq: head.next_seq,
                    stream: request.stream,
                    version: len + offset as u64,
                    event_id: Uuid::now_v7(),
                    recorded_at,
                    schema_version: SCHEMA_VERSION,
                    prev_hash: head.last_hash,
                    hash: Hash::ZERO,
                };
                let hash = segment::push_record(&mut records, &header, payload);
                writes.insert(
                    &index_key(request.stream, header.version),
                    &header.seq.to_be_bytes(),
                );
                head = Head {
                    next_seq: head.next_seq + 1,
                    last_hash: hash,
                };
            }
            self.stream_lens.insert(request.stream, len + count);
            let appended = Appended {
                stream: request.stream,
                first_seq,
                first_version: len,
                count,
            };
            accepted.push((request.reply, appended));
        }
        if accepted.is_empty() {
            return;
        }
        if let Err(free) = self.log.room_for(records.len()) {
            // Refused before sled sees it: nothing is written and nothing
            // breaks, so the writer goes on once there is room. The lengths
            // cached for these requests did not happen.
            for (reply, _) in accepted {
                let _ = reply.send(Err(StoreError::NoSpace {
                    free,
                    floor: MIN_FREE_BYTES,
                }));
            }
            self.stream_lens.clear();
            return;
        }
        writes.insert(&event_key(commit_first_seq), records);
        if let Err(e) = self.log.write(writes) {
            let reason = e.to_string();
            self.log.poison().set(reason.clone());
            for (reply, _) in accepted {
                let _ = reply.send(Err(StoreError::Poisoned(reason.clone())));
            }
            return;
        }
        self.head = head;
        let flushed = Flushed {
            head,
            replies: accepted,
        };
        if let Err(lost) = self.syncer.send(flushed) {
            self.log.poison().set("the syncer stopped".into());
            for (reply, _) in lost.0.replies {
                let _ = reply.send(Err(StoreError::Closed));
            }
        }
    }

    fn stream_len(&mut self, stream: StreamId) -> Result<u64, StoreError> {
        if let Some(len) = self.stream_lens.get(&stream) {
            return Ok(*len);
        }
        let len = self.log.stream_len(stream)?;
        self.stream_lens.insert(stream, len);
        Ok(len)
    }
}

impl Syncer {
    pub fn run(self, flushed: Receiver<Flushed>) {
        while let Ok(first) = flushed.recv() {
            let mut pending = vec![first];
            pending.extend(flushed.try_iter());
            self.sync(pending);
        }
    }

    /// Everything in `pending` was written and flushed before this sync
    /// began, so the sync makes all of it durable.
    fn sync(&self, pending: Vec<Flushed>) {
        let outcome = match self.log.poison().reason() {
            Some(reason) => Err(reason),
            None => self.log.sync_data().map_err(|e| {
                let reason = e.to_string();
                self.log.poison().set(reason.clone());
                reason
            }),
        };
        if let Err(reason) = outcome {
            for (reply, _) in pending.into_iter().flat_map(|f| f.replies) {
                let _ = reply.send(Err(StoreError::Poisoned(reason.clone())));
            }
            return;
        }
        let Some(head) = pending.last().map(|f| f.head) else {
            return;
        };
        self.commits.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.seal.write(Seal {
            count: head.next_seq,
            last_hash: head.last_hash,
        }) {
            // The records are durable, so their appends succeeded; but without
            // a current seal a later loss could go unnoticed, so stop writing.
            self.log
                .poison()
                .set(format!("cannot update the seal: {e}"));
        }
        self.head_tx.send_replace(head);
        for (reply, appended) in pending.into_iter().flat_map(|f| f.replies) {
            let _ = reply.send(Ok(appended));
        }
    }
}
