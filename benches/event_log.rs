//! The event log's speed, measured against raw sled in the same run.
//!
//! `cargo bench --bench event_log` prints, from one run:
//! - durable appends/s with 1 writer and with 64 concurrent writers (tokio
//!   tasks, as the actors are);
//! - raw sled insert+flush with the same batching (1 per flush, and the mean
//!   batch our group commit reached with 64 writers), with and without the
//!   fdatasync our store adds, and our/raw ratios against both;
//! - verify and decode throughput over a log of `DEPLOYFLOW_BENCH_RECORDS`
//!   records (default 200,000).
//!
//! Logs live under cargo's target tmp dir, on the same disk as the project,
//! so fsyncs are real.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deployflow::events::samples::sample;
use deployflow::events::{Event, EventKind, EventStore, RawLog, StreamId, encode_payload, verify};
use strum::IntoEnumIterator;

const WRITERS: usize = 64;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a quick pass is enough to show the bench still runs.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 20 };
    let records: u64 = std::env::var("DEPLOYFLOW_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
        / scale;
    let root = scratch_root();
    let events = realistic_events();
    let record_len = mean_record_len(&events);

    // Rounds alternate ours and raw sled so that both see the same disk
    // weather; medians are reported. Raw sled is measured twice: with its
    // own flush (sync_file_range on Linux), and with that flush plus the
    // fdatasync our store adds to make a flush survive a power loss.
    let rounds = if full { 5 } else { 1 };
    let mut samples: [Vec<f64>; 7] = Default::default();
    let [
        ones,
        raw_ones,
        synced_ones,
        manys,
        raw_manys,
        synced_manys,
        batches,
    ] = &mut samples;
    for round in 0..rounds {
        let dir = |name: &str| root.join(format!("{name}-{round}"));
        let one = durable_appends(&dir("one"), 1, 2_000 / scale as usize, &events);
        raw_ones.push(raw_sled(&dir("raw-one"), one.events, 1, record_len, false));
        synced_ones.push(raw_sled(
            &dir("synced-one"),
            one.events,
            1,
            record_len,
            true,
        ));
        ones.push(one.rate());
        let many = durable_appends(&dir("many"), WRITERS, 600 / scale as usize, &events);
        let batch = (many.events as f64 / many.commits as f64).round().max(1.0) as usize;
        raw_manys.push(raw_sled(
            &dir("raw-many"),
            many.events,
            batch,
            record_len,
            false,
        ));
        synced_manys.push(raw_sled(
            &dir("synced-many"),
            many.events,
            batch,
            record_len,
            true,
        ));
        manys.push(many.rate());
        batches.push(batch as f64);
    }
    let [one, raw_one, synced_one, many, raw_many, synced_many, batch] = samples.map(median);
    let batch = batch as usize;

    let log_dir = root.join("verify");
    write_big_log(&log_dir, records, &events);
    let (verified, verify_time) = {
        let log = RawLog::open(&log_dir).expect("open the log");
        let started = Instant::now();
        let report = verify(&log);
        assert!(report.is_whole(), "{report:?}");
        (report.checked, started.elapsed())
    };
    let (decoded, decode_time) = {
        let store = EventStore::open(&log_dir).expect("open the log");
        let started = Instant::now();
        let mut count = 0u64;
        for envelope in store.read_from(0) {
            envelope.expect("decode");
            count += 1;
        }
        (count, started.elapsed())
    };

    println!(
        "event log benchmark: {record_len} bytes per record on average, appends the median of {rounds} rounds"
    );
    println!(
        "{:<52} {:>11} {:>11} {:>11}",
        "measure", "per second", "vs flush", "vs +fsync"
    );
    let row = |name: &str, rate: f64, raws: Option<(f64, f64)>| {
        let (flush, synced) = raws.map_or((String::new(), String::new()), |(flush, synced)| {
            (
                format!("{:.2}", rate / flush),
                format!("{:.2}", rate / synced),
            )
        });
        println!("{name:<52} {rate:>11.0} {flush:>11} {synced:>11}");
    };
    row("raw sled insert+flush, 1 per flush", raw_one, None);
    row(
        "raw sled insert+flush+fdatasync, 1 per flush",
        synced_one,
        None,
    );
    row(
        &format!("raw sled insert+flush, {batch} per flush"),
        raw_many,
        None,
    );
    row(
        &format!("raw sled insert+flush+fdatasync, {batch} per flush"),
        synced_many,
        None,
    );
    row(
        "durable appends, 1 writer",
        one,
        Some((raw_one, synced_one)),
    );
    row(
        &format!("durable appends, {WRITERS} writers ({batch} per flush)"),
        many,
        Some((raw_many, synced_many)),
    );
    row(
        &format!("verify ({verified} records)"),
        per_second(verified, verify_time),
        None,
    );
    row(
        &format!("decode ({decoded} records)"),
        per_second(decoded, decode_time),
        None,
    );
    let _ = std::fs::remove_dir_all(&root);
}

struct Appends {
    events: u64,
    commits: u64,
    elapsed: Duration,
}

impl Appends {
    fn rate(&self) -> f64 {
        per_second(self.events, self.elapsed)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn scratch_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("event-log-bench");
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// Every kind, in the proportions of a deployment's stream.
fn realistic_events() -> Vec<Event> {
    EventKind::iter().map(sample).collect()
}

fn mean_record_len(events: &[Event]) -> usize {
    let payloads: usize = events
        .iter()
        .map(|e| encode_payload(e).expect("encode").len())
        .sum();
    deployflow::events::record::HEADER_LEN + payloads / events.len()
}

/// `writers` concurrent tasks, each appending one event at a time to its own
/// stream, on a two-worker tokio runtime: the way the actors append.
fn durable_appends(dir: &Path, writers: usize, per_writer: usize, events: &[Event]) -> Appends {
    let store = EventStore::open(dir).expect("open the log");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("start a runtime");
    let appended = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                let events = events.to_vec();
                let appended = appended.clone();
                tokio::spawn(async move {
                    let stream = StreamId::new();
                    for version in 0..per_writer as u64 {
                        let event = &events[(w + version as usize) % events.len()];
                        store
                            .append(stream, version, std::slice::from_ref(event))
                            .await
                            .expect("append");
                        appended.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer task");
        }
    });
    Appends {
        events: appended.load(Ordering::Relaxed),
        commits: store.commits(),
        elapsed: started.elapsed(),
    }
}

/// sled alone: `count` values of `len` bytes under big-endian keys, written
/// `batch` at a time, each batch followed by a flush (and an fdatasync of
/// sled's file when `fdatasync`).
fn raw_sled(dir: &Path, count: u64, batch: usize, len: usize, fdatasync: bool) -> f64 {
    let db = sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .expect("open sled");
    let tree = db.open_tree("baseline").expect("open tree");
    let file = std::fs::File::open(dir.join("db")).expect("open sled's file");
    let value = vec![0xa5u8; len];
    let started = Instant::now();
    let mut seq = 0u64;
    while seq < count {
        let mut writes = sled::Batch::default();
        for _ in 0..batch.min((count - seq) as usize) {
            writes.insert(&seq.to_be_bytes(), value.as_slice());
            seq += 1;
        }
        tree.apply_batch(writes).expect("apply batch");
        db.flush().expect("flush");
        if fdatasync {
            file.sync_data().expect("fdatasync");
        }
    }
    per_second(count, started.elapsed())
}

/// A log of `records` events, written quickly: many streams, big appends.
fn write_big_log(dir: &Path, records: u64, events: &[Event]) {
    let store = EventStore::open(dir).expect("open the log");
    let per_append = events.len() as u64;
    let mut written = 0;
    while written < records {
        let take = per_append.min(records - written) as usize;
        store
            .append_blocking(StreamId::new(), 0, &events[..take])
            .expect("append");
        written += take as u64;
    }
}
