//! Keeping projections current: each is a pure fold (`Projection`); the
//! runner loads its last checkpoint from sled, folds the log from there,
//! and saves state and checkpoint as one value (so one atomic write: a
//! crash can neither apply an event twice nor skip one). A rebuild folds
//! from sequence 0 again.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::model::Model;
use crate::events::{Envelope, EventStore, StoreError};

/// A read model folded from the log.
pub trait Projection: Default + Serialize + DeserializeOwned {
    /// Its key in the checkpoint store.
    const NAME: &'static str;
    /// Bumped when its shape or its fold changes: an older checkpoint is
    /// then folded again from sequence 0 instead of being trusted.
    const VERSION: u32;
    /// The next global sequence it has not folded.
    fn next_seq(&self) -> u64;
    fn apply(&mut self, envelope: &Envelope);
}

impl Projection for Model {
    const NAME: &'static str = "model";
    // 5: a phase that fixes keeps its cause, not its words. 6: analyses
    // (a phase that analyzes keeps its tally).
    const VERSION: u32 = 6;

    fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn apply(&mut self, envelope: &Envelope) {
        Model::apply(self, envelope)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("the projections' checkpoints in {path}: {source}")]
    Checkpoints { path: String, source: sled::Error },
    #[error("the checkpoint of {name} cannot be written: {reason}")]
    Encode { name: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where checkpoints live: `<data-dir>/projections`, a sled database of its
/// own (the event log's is held by the log's writer threads).
pub struct Checkpoints {
    db: sled::Db,
    path: String,
}

/// What is stored under a projection's name.
#[derive(Serialize, serde::Deserialize)]
struct Stored<P> {
    version: u32,
    state: P,
}

impl Checkpoints {
    pub fn open(data_dir: &Path) -> Result<Checkpoints, ProjectionError> {
        let path = data_dir.join("projections");
        let db = sled::open(&path).map_err(|source| ProjectionError::Checkpoints {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Checkpoints {
            db,
            path: path.display().to_string(),
        })
    }

    /// The saved state, when there is one this build can trust.
    pub fn load<P: Projection>(&self) -> Option<P> {
        let bytes = self.db.get(P::NAME).ok()??;
        let stored: Stored<P> = rmp_serde::from_slice(&bytes).ok()?;
        (stored.version == P::VERSION).then_some(stored.state)
    }

    pub fn save<P: Projection>(&self, state: &P) -> Result<(), ProjectionError> {
        let stored = Stored {
            version: P::VERSION,
            state,
        };
        let bytes = rmp_serde::to_vec_named(&stored).map_err(|e| ProjectionError::Encode {
            name: P::NAME,
            reason: e.to_string(),
        })?;
        let sled_error = |source| ProjectionError::Checkpoints {
            path: self.path.clone(),
            source,
        };
        self.db.insert(P::NAME, bytes).map_err(sled_error)?;
        self.db.flush().map_err(sled_error)?;
        Ok(())
    }
}

/// Folds `from` on into `projection`; returns how many events it applied.
pub fn catch_up<P: Projection>(store: &EventStore, projection: &mut P) -> Result<u64, StoreError> {
    let mut applied = 0;
    for envelope in store.read_from(projection.next_seq()) {
        projection.apply(&envelope?);
        applied += 1;
    }
    Ok(applied)
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    pub events: u64,
    pub millis: u64,
    pub events_per_second: u64,
    pub deployments: usize,
    /// Whether the rebuilt state equals the one kept incrementally.
    pub identical: bool,
}

/// The read model the control plane keeps current and serves from.
#[derive(Clone)]
pub struct ReadModel {
    model: Arc<RwLock<Model>>,
    checkpoints: Arc<Checkpoints>,
    store: EventStore,
    saved_at: Arc<AtomicU64>,
    /// Why the last fold or save failed, until one succeeds: what the
    /// health check reports.
    trouble: Arc<std::sync::Mutex<Option<String>>>,
}

/// Saved after this many new events (and when the control plane stops).
const SAVE_EVERY: u64 = 10_000;

impl ReadModel {
    /// Loads the checkpoint, folds what came after it, saves.
    pub fn open(store: &EventStore, data_dir: &Path) -> Result<ReadModel, ProjectionError> {
        let checkpoints = Checkpoints::open(data_dir)?;
        let mut model: Model = checkpoints.load().unwrap_or_default();
        // A checkpoint ahead of the log (the log was replaced) is not ours.
        if model.next_seq > store.head().next_seq {
            model = Model::default();
        }
        let applied = catch_up(store, &mut model)?;
        if applied > 0 {
            checkpoints.save(&model)?;
        }
        Ok(ReadModel {
            saved_at: Arc::new(AtomicU64::new(model.next_seq)),
            model: Arc::new(RwLock::new(model)),
            checkpoints: Arc::new(checkpoints),
            store: store.clone(),
            trouble: Arc::default(),
        })
    }

    /// Why the read model could not follow the log lately, if it could not.
    pub fn trouble(&self) -> Option<String> {
        self.trouble.lock().ok().and_then(|t| t.clone())
    }

    /// Folds the events appended since; saves now and then. A failure is
    /// remembered (`trouble`) until a fold succeeds again.
    pub fn catch_up(&self) -> Result<(), ProjectionError> {
        let result = self.fold_new();
        if let Ok(mut trouble) = self.trouble.lock() {
            *trouble = result.as_ref().err().map(ToString::to_string);
        }
        result
    }

    fn fold_new(&self) -> Result<(), ProjectionError> {
        let next = {
            let mut model = self.model.write().unwrap_or_else(|p| p.into_inner());
            catch_up(&self.store, &mut *model)?;
            model.next_seq
        };
        if next >= self.saved_at.load(Ordering::Relaxed) + SAVE_EVERY {
            self.save()?;
        }
        Ok(())
    }

    pub fn save(&self) -> Result<(), ProjectionError> {
        let model = self.read();
        self.checkpoints.save(&*model)?;
        self.saved_at.store(model.next_seq, Ordering::Relaxed);
        Ok(())
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Model> {
        self.model.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Folds the whole log again from sequence 0 and takes the result.
    pub fn rebuild(&self) -> Result<Rebuilt, ProjectionError> {
        let started = Instant::now();
        let mut fresh = Model::default();
        let events = catch_up(&self.store, &mut fresh)?;
        let elapsed = started.elapsed();
        let identical = {
            let mut kept = self.model.write().unwrap_or_else(|p| p.into_inner());
            catch_up(&self.store, &mut *kept)?;
            // Compared where the fresh fold stopped; later events are folded next.
            let same = *kept == fresh;
            *kept = fresh;
            same
        };
        self.save()?;
        Ok(Rebuilt {
            events,
            millis: elapsed.as_millis() as u64,
            events_per_second: (events as f64 / elapsed.as_secs_f64().max(1e-9)) as u64,
            deployments: self.read().records().len(),
            identical,
        })
    }
}
