//! Per app: which deployment holds its lock, what serves its traffic, and
//! which stopped releases are kept for rollback (DESIGN.md's rollback
//! state). Kept by the read model (`model.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{LiveRelease, Slot, StreamId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retained {
    pub release: String,
    pub slot: Slot,
    pub stopped_at: DateTime<Utc>,
    /// The deployment that brought it, whose config starts it again.
    pub deployment: StreamId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// The deployment holding the app's lock.
    pub active: Option<StreamId>,
    pub live: Option<LiveRelease>,
    pub live_since: Option<DateTime<Utc>>,
    /// Stopped releases kept for rollback, newest first.
    pub retained: Vec<Retained>,
    /// The router its latest deployment named (`router.admin`).
    #[serde(default)]
    pub router_admin: Option<String>,
    /// Where users reach it (`router.listen` of its latest deployment).
    #[serde(default)]
    pub public: Option<String>,
}
