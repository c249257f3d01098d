//! The store through its public API: appends, optimistic concurrency, reads,
//! durability across reopen, the tail subscription and recovery checks.

use deployflow::events::samples::sample;
use deployflow::events::{Event, EventKind, EventStore, Hash, RawLog, StoreError, StreamId};

fn failed(reason: &str) -> Event {
    Event::Failed {
        reason: reason.into(),
    }
}

#[test]
fn appends_get_consecutive_sequences_and_stream_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let (a, b) = (StreamId::new(), StreamId::new());
    let first = store
        .append_blocking(a, 0, &[failed("1"), failed("2")])
        .unwrap();
    assert_eq!(
        (first.first_seq, first.first_version, first.count),
        (0, 0, 2)
    );
    let second = store.append_blocking(b, 0, &[failed("3")]).unwrap();
    assert_eq!((second.first_seq, second.first_version), (2, 0));
    let third = store.append_blocking(a, 2, &[failed("4")]).unwrap();
    assert_eq!((third.first_seq, third.first_version), (3, 2));

    let stream_a = store.read_stream(a, 0).unwrap();
    let versions: Vec<_> = stream_a.iter().map(|e| (e.seq, e.version)).collect();
    assert_eq!(versions, [(0, 0), (1, 1), (3, 2)]);
    assert_eq!(stream_a[2].event, failed("4"));
    assert_eq!(store.read_stream(a, 2).unwrap().len(), 1);
    assert!(store.read_stream(StreamId::new(), 0).unwrap().is_empty());

    let all: Vec<_> = store.read_from(0).map(|e| e.unwrap()).collect();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].prev_hash, Hash::ZERO);
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(store.head().next_seq, 4);
    assert_eq!(store.head().last_hash, all[3].hash);
}

#[test]
fn a_stale_expected_version_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let stream = StreamId::new();
    store
        .append_blocking(stream, 0, &[failed("first")])
        .unwrap();
    let err = store
        .append_blocking(stream, 0, &[failed("second"), failed("third")])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .append_blocking(stream, 5, &[failed("ahead")])
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: 5,
            actual: 1,
            ..
        }
    ));
    assert_eq!(store.head().next_seq, 1);
    assert_eq!(store.read_stream(stream, 0).unwrap().len(), 1);
}

#[test]
fn an_empty_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let err = store.append_blocking(StreamId::new(), 0, &[]).unwrap_err();
    assert!(matches!(err, StoreError::EmptyAppend));
}

#[test]
fn events_survive_a_reopen_and_versions_continue() {
    let dir = tempfile::tempdir().unwrap();
    let stream = StreamId::new();
    let before = {
        let store = EventStore::open(dir.path()).unwrap();
        store
            .append_blocking(stream, 0, &[sample(EventKind::DeploymentRequested)])
            .unwrap();
        store
            .append_blocking(stream, 1, &[sample(EventKind::InputsValidated)])
            .unwrap();
        store.read_from(0).map(|e| e.unwrap()).collect::<Vec<_>>()
    };
    let store = EventStore::open(dir.path()).unwrap();
    let after: Vec<_> = store.read_from(0).map(|e| e.unwrap()).collect();
    assert_eq!(before, after);
    let err = store
        .append_blocking(stream, 0, &[failed("stale")])
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 2, .. }));
    let next = store.append_blocking(stream, 2, &[failed("next")]).unwrap();
    assert_eq!((next.first_seq, next.first_version), (2, 2));
    assert_eq!(
        store.read_from(2).next().unwrap().unwrap().prev_hash,
        after[1].hash
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_wakes_waiters_after_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let mut changes = store.subscribe();
    let writer = store.clone();
    let stream = StreamId::new();
    let task = tokio::spawn(async move {
        for version in 0..3 {
            writer
                .append(stream, version, &[failed("x")])
                .await
                .unwrap();
        }
    });
    // A follower catches up from its own checkpoint whenever it is woken.
    let mut checkpoint = 0;
    while checkpoint < 3 {
        changes.changed().await.unwrap();
        for envelope in store.read_from(checkpoint) {
            assert_eq!(envelope.unwrap().seq, checkpoint);
            checkpoint += 1;
        }
    }
    task.await.unwrap();
    assert_eq!(changes.borrow().next_seq, 3);
}

#[test]
fn a_log_that_lost_acknowledged_records_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EventStore::open(dir.path()).unwrap();
        let stream = StreamId::new();
        store.append_blocking(stream, 0, &[failed("a")]).unwrap();
        // A second commit, so it is a segment of its own, under key 1.
        store.append_blocking(stream, 1, &[failed("b")]).unwrap();
    }
    {
        let log = RawLog::open(dir.path()).unwrap();
        log.tree().remove(1u64.to_be_bytes()).unwrap();
        log.sled().flush().unwrap();
    }
    let err = EventStore::open(dir.path())
        .err()
        .expect("open must refuse");
    assert!(err.is_corruption());
    assert!(
        err.to_string().contains("2 records were acknowledged"),
        "{err}"
    );
}

#[test]
fn a_missing_seal_on_a_written_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EventStore::open(dir.path()).unwrap();
        store
            .append_blocking(StreamId::new(), 0, &[failed("a")])
            .unwrap();
    }
    std::fs::remove_file(dir.path().join("events.head")).unwrap();
    let err = EventStore::open(dir.path())
        .err()
        .expect("open must refuse");
    assert!(err.to_string().contains("seal"), "{err}");
}

#[test]
fn an_oversized_event_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let huge = Event::Failed {
        reason: "x".repeat(deployflow::events::record::MAX_PAYLOAD),
    };
    let err = store
        .append_blocking(StreamId::new(), 0, &[failed("small"), huge])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { kind: "failed", .. }),
        "{err}"
    );
    assert_eq!(store.head().next_seq, 0);
}

#[test]
fn a_new_log_whose_seal_was_never_written_opens() {
    let dir = tempfile::tempdir().unwrap();
    drop(EventStore::open(dir.path()).unwrap());
    // A crash between creating the seal file and writing it.
    std::fs::write(dir.path().join("events.head"), b"").unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    store
        .append_blocking(StreamId::new(), 0, &[failed("a")])
        .unwrap();
}
