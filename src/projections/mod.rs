//! Read models folded from the log: history, the review audit, metrics,
//! per-app rollback state, timelines and the deployment report. Each is a
//! pure fold over envelopes. (The projections issue gives them checkpoints.)

pub mod apps;
pub mod audit;
pub mod generate;
pub mod history;
pub mod metrics;
pub mod model;
pub mod overhead;
pub mod report;
pub mod runner;
pub mod timeline;

use std::collections::BTreeMap;

use crate::events::{Envelope, EventStore, StoreError, StreamId};

/// Every stream's events, in stream order, streams in creation order.
pub fn streams(store: &EventStore) -> Result<BTreeMap<StreamId, Vec<Envelope>>, StoreError> {
    let mut streams: BTreeMap<StreamId, Vec<Envelope>> = BTreeMap::new();
    for envelope in store.read_from(0) {
        let envelope = envelope?;
        streams.entry(envelope.stream).or_default().push(envelope);
    }
    Ok(streams)
}
