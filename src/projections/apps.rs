//! Per app: which deployment holds its lock, what serves its traffic, and
//! which stopped releases are kept for rollback. A pure fold over the whole
//! log; the control plane keeps one up to date to refuse a second deploy
//! and to find what a rollback returns to.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Envelope, Event, LiveRelease, Slot, StreamId};
use crate::flow::{Deployment, Phase};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retained {
    pub release: String,
    pub slot: Slot,
    pub stopped_at: DateTime<Utc>,
    /// The deployment that brought it, whose config starts it again.
    pub deployment: StreamId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppState {
    /// The deployment holding the app's lock.
    pub active: Option<StreamId>,
    pub live: Option<LiveRelease>,
    pub live_since: Option<DateTime<Utc>>,
    /// Stopped releases kept for rollback, newest first.
    pub retained: Vec<Retained>,
}

#[derive(Debug, Default)]
pub struct AppIndex {
    streams: HashMap<StreamId, Deployment>,
    apps: BTreeMap<String, AppState>,
    /// The next global sequence to fold.
    pub next_seq: u64,
}

impl AppIndex {
    pub fn app(&self, app: &str) -> Option<&AppState> {
        self.apps.get(app)
    }

    pub fn apps(&self) -> impl Iterator<Item = (&String, &AppState)> {
        self.apps.iter()
    }

    pub fn deployment(&self, id: StreamId) -> Option<&Deployment> {
        self.streams.get(&id)
    }

    /// Deployments whose flow has not ended (resume continues them).
    pub fn in_flight(&self) -> Vec<StreamId> {
        let mut ids: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, d)| !matches!(d.phase, Phase::Done(_)))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// The latest deployment of `app` that brought `release` live.
    pub fn deployment_of(&self, app: &str, release: &str) -> Option<StreamId> {
        self.streams
            .iter()
            .filter(|(_, d)| d.app == app && d.release == release && d.switched)
            .map(|(id, _)| *id)
            .max()
    }

    pub fn apply(&mut self, envelope: &Envelope) {
        self.next_seq = envelope.seq + 1;
        let id = envelope.stream;
        let state = self.streams.entry(id).or_insert_with(Deployment::empty);
        // Which release a switch brings live depends on the phase before it.
        let restoring = matches!(state.phase, Phase::Restoring(_));
        let restore_release = state.restore.as_ref().map(|(release, _)| release.clone());
        // Blue coming back names the deployment that brought it live.
        let blue_deployment = state
            .blue
            .as_ref()
            .filter(|blue| Some(&blue.release) == restore_release.as_ref())
            .and_then(|blue| blue.deployment.as_deref())
            .and_then(|id| id.parse().ok())
            .map(StreamId);
        state.apply(&envelope.event);
        let release = state.release.clone();
        let app_name = state.app.clone();
        let retain = state.policy.retain as usize;
        let ended = matches!(state.phase, Phase::Done(_));
        let deployment_of_restore = blue_deployment.or_else(|| {
            restore_release
                .as_deref()
                .and_then(|r| self.deployment_of(&app_name, r))
        });
        let app = self.apps.entry(app_name).or_default();
        match &envelope.event {
            Event::DeploymentRequested { .. } => app.active = Some(id),
            Event::RollbackStarted {
                after_promotion: true,
                ..
            } => app.active = Some(id),
            Event::TrafficSwitched { to, endpoint, .. } => {
                let (release, deployment) = if restoring {
                    (restore_release.unwrap_or_default(), deployment_of_restore)
                } else {
                    (release, Some(id))
                };
                app.retained.retain(|r| r.release != release);
                app.live = Some(LiveRelease {
                    slot: *to,
                    release,
                    endpoint: endpoint.clone(),
                    deployment: deployment.map(|d| d.to_string()),
                });
                app.live_since = Some(envelope.recorded_at);
            }
            Event::BlueStopped {
                slot,
                release,
                retained: true,
            } => {
                let deployment = if restoring { Some(id) } else { None };
                let deployment = deployment
                    .or_else(|| {
                        self.streams
                            .iter()
                            .filter(|(_, d)| &d.release == release)
                            .map(|(id, _)| *id)
                            .max()
                    })
                    .unwrap_or(id);
                let app = self.apps.entry(self.streams[&id].app.clone()).or_default();
                app.retained.retain(|r| &r.release != release);
                app.retained.insert(
                    0,
                    Retained {
                        release: release.clone(),
                        slot: *slot,
                        stopped_at: envelope.recorded_at,
                        deployment,
                    },
                );
                app.retained.truncate(retain.max(1));
            }
            _ => {}
        }
        if ended {
            let app = self.apps.entry(self.streams[&id].app.clone()).or_default();
            if app.active == Some(id) {
                app.active = None;
            }
        }
    }
}
