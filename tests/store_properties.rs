//! Properties of the store under concurrency: whatever the interleaving of
//! concurrent appends (conflicts retried, as a Driver would), the log has a
//! gap-free global sequence, gap-free stream versions, every event exactly
//! once, and a whole hash chain.

use std::collections::HashMap;
use std::sync::Arc;

use deployflow::events::{Event, EventStore, StoreError, StreamId, verify};
use proptest::prelude::*;

/// One writer's plan: appends of `size` events to stream number `stream`.
type Plan = Vec<(usize, usize)>;

fn plans() -> impl Strategy<Value = (usize, Vec<Plan>)> {
    (1usize..4).prop_flat_map(|streams| {
        let append = (0..streams, 1usize..4);
        let writer = proptest::collection::vec(append, 1..8);
        (Just(streams), proptest::collection::vec(writer, 1..6))
    })
}

fn marker(writer: usize, append: usize, index: usize) -> Event {
    Event::Failed {
        reason: format!("{writer}/{append}/{index}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_appends_keep_sequences_versions_and_chain_whole((streams, writers) in plans()) {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let ids: Arc<Vec<StreamId>> = Arc::new((0..streams).map(|_| StreamId::new()).collect());
        let handles: Vec<_> = writers.iter().cloned().enumerate().map(|(w, plan)| {
            let store = store.clone();
            let ids = ids.clone();
            std::thread::spawn(move || {
                for (a, (stream, size)) in plan.into_iter().enumerate() {
                    let events: Vec<_> = (0..size).map(|i| marker(w, a, i)).collect();
                    let mut expected = 0;
                    loop {
                        match store.append_blocking(ids[stream], expected, &events) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { actual, .. }) => expected = actual,
                            Err(e) => panic!("append failed: {e}"),
                        }
                    }
                }
            })
        }).collect();
        for handle in handles {
            handle.join().unwrap();
        }

        let all: Vec<_> = store.read_from(0).map(|e| e.unwrap()).collect();
        let planned: usize = writers.iter().flatten().map(|(_, size)| size).sum();
        prop_assert_eq!(all.len(), planned);
        for (i, envelope) in all.iter().enumerate() {
            prop_assert_eq!(envelope.seq, i as u64);
        }
        let mut seen = HashMap::new();
        for envelope in &all {
            let Event::Failed { reason } = &envelope.event else { unreachable!() };
            prop_assert!(seen.insert(reason.clone(), envelope.seq).is_none(), "{} twice", reason);
        }
        for (w, plan) in writers.iter().enumerate() {
            for (a, (_, size)) in plan.iter().enumerate() {
                // An append's events are contiguous in the global order.
                let first = seen[&format!("{w}/{a}/0")];
                for i in 1..*size {
                    prop_assert_eq!(seen[&format!("{w}/{a}/{i}")], first + i as u64);
                }
            }
        }
        for id in ids.iter() {
            let stream = store.read_stream(*id, 0).unwrap();
            for (v, envelope) in stream.iter().enumerate() {
                prop_assert_eq!(envelope.version, v as u64);
            }
        }
        let report = verify(&store.raw().unwrap());
        prop_assert!(report.is_whole(), "{:?}", report);
        prop_assert_eq!(report.checked, planned as u64);
    }
}
