//! The read model: one pure fold over the whole log that keeps, per
//! deployment, what history and metrics need (`Record`), and per app its
//! lock, live release and retained releases (`AppState`). It is what the
//! Supervisor consults to take an app's lock and what the API reads.
//!
//! It serializes whole, with the sequence it has folded up to, so `serve`
//! starts from a checkpoint instead of the whole log. To stay small, it
//! keeps a deployment's full flow state only while events can still come
//! to it: while in flight, and while its release is live or retained (a
//! rollback after promotion reopens it).

use crate::events::payloads::{Answer, SynthesisRecorded, VerdictRecorded};
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::apps::{AppState, Retained};
use crate::events::{Decision, Envelope, Event, LiveRelease, Outcome, RunVerdict, StreamId};
use crate::flow::{Deployment, FixCounts, Phase, Policy, PolicyParsed};

/// What history and metrics keep of one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: StreamId,
    pub app: String,
    pub release: String,
    /// Who asked for it.
    #[serde(default)]
    pub requested_by: String,
    /// `None` while in progress.
    pub outcome: Option<Outcome>,
    pub stage: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub fixes: FixCounts,
    pub review_rounds: u32,
    pub consensus: u32,
    pub fixes_requested: u32,
    pub major_flaws: u32,
    pub tests_passed: Option<u32>,
    pub tests_failed: Option<u32>,
    /// When the release's commit was made, if the request said.
    pub committed_at: Option<DateTime<Utc>>,
    /// When traffic first went to it.
    pub went_live_at: Option<DateTime<Utc>>,
    /// It went live and was rolled back afterwards: a failed change.
    pub rolled_back_after_promotion: bool,
    /// How long each rollback after promotion took to restore service.
    pub restores_ms: Vec<i64>,
    restore_started: Option<DateTime<Utc>>,
    /// Time spent in each stage (`history`'s phase names), in ms.
    #[serde(default)]
    pub phases_ms: BTreeMap<String, u64>,
    #[serde(default)]
    stage_since: Option<DateTime<Utc>>,
    /// The digest of the code its green ran (its snapshot's).
    #[serde(default)]
    pub digest: Option<String>,
    /// Its analysis runs by how they ended.
    #[serde(default)]
    pub analysis_runs: AnalysisRuns,
    /// A failed analysis rolled it back (before or after the switch).
    #[serde(default)]
    pub automated_rollback: bool,
    /// From the switch to the rollback a post-promotion analysis started.
    #[serde(default)]
    pub time_to_detect_ms: Option<i64>,
    /// One sentence: why it ended as it did.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    /// An analysis failed, or an alert fired: a rollback now is automated.
    automated_cause: bool,
    /// `bluegreen` or `canary` (`history --json`'s `strategy`).
    #[serde(default = "bluegreen")]
    pub strategy: String,
    /// Green's share of the traffic while a canary splits it.
    #[serde(default)]
    pub weight: Option<u8>,
    /// The canary steps that ended well.
    #[serde(default)]
    pub steps_completed: u32,
}

fn bluegreen() -> String {
    crate::config::Strategy::Bluegreen.name().to_string()
}

/// Analysis runs by verdict (`metrics --json`'s `analysis_runs`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisRuns {
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The next global sequence to fold.
    pub next_seq: u64,
    flows: HashMap<StreamId, Deployment>,
    records: Vec<Record>,
    index: HashMap<StreamId, usize>,
    apps: BTreeMap<String, AppState>,
    /// Per app, per release: the latest deployment that brought it live.
    went_live: BTreeMap<String, BTreeMap<String, StreamId>>,
    /// Verdicts recorded, by member, then role, then verdict.
    #[serde(default)]
    verdicts: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// Policies by config text: a rebuild over many deployments of one
    /// app parses its config once, not once per deployment.
    #[serde(skip)]
    policies: PolicyMemo,
}

/// A memo of `Policy::parse`, which is pure: a cache, not part of the
/// model's value (it is not saved, and two models are equal whatever it
/// holds).
#[derive(Debug, Default, Clone)]
struct PolicyMemo(HashMap<(String, String), PolicyParsed>);

/// How many distinct configs the memo keeps before it starts again.
const POLICIES_KEPT: usize = 256;

impl PolicyMemo {
    fn parse(&mut self, config: &str, base: &str) -> PolicyParsed {
        let key = (config.to_string(), base.to_string());
        if let Some(known) = self.0.get(&key) {
            return known.clone();
        }
        let parsed = Policy::parse(config, base);
        if self.0.len() >= POLICIES_KEPT {
            self.0.clear();
        }
        self.0.insert(key, parsed.clone());
        parsed
    }
}

impl PartialEq for PolicyMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why one deployment's events ended as they did (or are ending: a
/// rollback's reason comes before the report), as `history` gives it.
pub fn reason_of(events: &[Envelope]) -> Option<String> {
    let mut model = Model::default();
    for envelope in events {
        model.apply(envelope);
    }
    model.records().first()?.reason.clone()
}

impl Model {
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Verdicts recorded, by member, then role, then verdict.
    pub fn verdicts(&self) -> &BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>> {
        &self.verdicts
    }

    pub fn record(&self, id: StreamId) -> Option<&Record> {
        self.index.get(&id).map(|i| &self.records[*i])
    }

    pub fn app(&self, app: &str) -> Option<&AppState> {
        self.apps.get(app)
    }

    pub fn apps(&self) -> impl Iterator<Item = (&String, &AppState)> {
        self.apps.iter()
    }

    /// A deployment's flow state, while events can still come to it.
    pub fn flow(&self, id: StreamId) -> Option<&Deployment> {
        self.flows.get(&id)
    }

    /// Deployments whose flow has not ended (resume continues them).
    pub fn in_flight(&self) -> Vec<StreamId> {
        let mut ids: Vec<StreamId> = self
            .flows
            .iter()
            .filter(|(_, d)| !matches!(d.phase, Phase::Done(_)))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// The latest deployment of `app` that brought `release` live.
    pub fn deployment_of(&self, app: &str, release: &str) -> Option<StreamId> {
        self.went_live.get(app)?.get(release).copied()
    }

    /// The releases of `app` a rollback may bring back (live and retained)
    /// with the digest of the code each ran, where known.
    pub fn kept_digests(&self, app: &str) -> Vec<(String, String)> {
        let Some(state) = self.apps.get(app) else {
            return Vec::new();
        };
        let live = state
            .live
            .as_ref()
            .and_then(|live| Some((live.release.clone(), live.deployment_id()?)));
        let retained = state
            .retained
            .iter()
            .map(|r| (r.release.clone(), r.deployment));
        live.into_iter()
            .chain(retained)
            .filter_map(|(release, id)| Some((release, self.record(id)?.digest.clone()?)))
            .collect()
    }

    /// How many deployments' flow states it keeps (the rest are records).
    pub fn flows_kept(&self) -> usize {
        self.flows.len()
    }

    pub fn apply(&mut self, envelope: &Envelope) {
        self.next_seq = envelope.seq + 1;
        let id = envelope.stream;
        let at = envelope.recorded_at;
        let flow = self.flows.entry(id).or_insert_with(Deployment::empty);
        // Which release a switch brings live depends on the phase before it.
        let restoring = matches!(flow.phase, Phase::Restoring(_));
        let restore_release = flow.restore.as_ref().map(|(release, _)| release.clone());
        let blue_deployment = flow
            .blue
            .as_ref()
            .filter(|blue| Some(&blue.release) == restore_release.as_ref())
            .and_then(LiveRelease::deployment_id);
        let policies = &mut self.policies;
        flow.apply_with(&envelope.event, &mut |config, base| {
            policies.parse(config, base)
        });
        let requested = matches!(envelope.event, Event::DeploymentRequested { .. });
        let public = requested
            .then(|| flow.policy.router_listen.clone())
            .filter(|listen| !listen.is_empty());
        let router_admin = requested
            .then(|| flow.policy.router_admin.clone())
            .filter(|admin| !admin.is_empty());
        let flow = Summary::of(flow);
        self.count_verdict(&envelope.event);
        self.record_event(id, at, &flow, &envelope.event, restoring);
        let app = flow.app.clone();
        let went_live = self.went_live.entry(app.clone()).or_default();
        let restored_from = blue_deployment.or_else(|| {
            restore_release
                .as_ref()
                .and_then(|r| went_live.get(r).copied())
        });
        let state = self.apps.entry(app.clone()).or_default();
        match &envelope.event {
            Event::DeploymentRequested { .. } => {
                state.active = Some(id);
                if router_admin.is_some() {
                    state.router_admin = router_admin;
                }
                if public.is_some() {
                    state.public = public;
                }
            }
            Event::RollbackStarted {
                after_promotion: true,
                ..
            } => state.active = Some(id),
            Event::TrafficSwitched { to, endpoint, .. } => {
                let (release, deployment) = if restoring {
                    (restore_release.unwrap_or_default(), restored_from)
                } else {
                    went_live.insert(flow.release.clone(), id);
                    (flow.release.clone(), Some(id))
                };
                state.retained.retain(|r| r.release != release);
                state.live = Some(LiveRelease {
                    slot: *to,
                    release,
                    endpoint: endpoint.clone(),
                    deployment: deployment.map(|d| d.to_string()),
                });
                state.live_since = Some(at);
            }
            Event::BlueStopped {
                slot,
                release,
                retained: true,
            } => {
                let deployment = if restoring {
                    Some(id)
                } else {
                    went_live.get(release).copied()
                };
                state.retained.retain(|r| &r.release != release);
                state.retained.insert(
                    0,
                    Retained {
                        release: release.clone(),
                        slot: *slot,
                        stopped_at: at,
                        deployment: deployment.unwrap_or(id),
                    },
                );
                state.retained.truncate(flow.retain as usize);
            }
            _ => {}
        }
        if flow.done && state.active == Some(id) {
            state.active = None;
        }
        // Only between deployments: mid-way, blue is neither live (traffic
        // has moved) nor retained yet (it has not stopped).
        if state.active.is_none() {
            self.prune(&app);
        }
    }

    fn record_event(
        &mut self,
        id: StreamId,
        at: DateTime<Utc>,
        flow: &Summary,
        event: &Event,
        restoring: bool,
    ) {
        if let Event::DeploymentRequested {
            committed_at,
            requested_by,
            ..
        } = event
        {
            self.index.insert(id, self.records.len());
            self.records.push(Record {
                id,
                app: flow.app.clone(),
                release: flow.release.clone(),
                outcome: None,
                stage: String::new(),
                requested_by: requested_by.clone(),
                started_at: at,
                finished_at: None,
                fixes: FixCounts::default(),
                review_rounds: 0,
                consensus: 0,
                fixes_requested: 0,
                major_flaws: 0,
                tests_passed: None,
                tests_failed: None,
                committed_at: *committed_at,
                went_live_at: None,
                rolled_back_after_promotion: false,
                restores_ms: Vec::new(),
                restore_started: None,
                phases_ms: BTreeMap::new(),
                stage_since: None,
                digest: None,
                analysis_runs: AnalysisRuns::default(),
                automated_rollback: false,
                time_to_detect_ms: None,
                reason: None,
                automated_cause: false,
                strategy: flow.strategy.to_string(),
                weight: None,
                steps_completed: 0,
            });
        }
        let Some(record) = self.index.get(&id).map(|i| &mut self.records[*i]) else {
            return;
        };
        record.outcome = flow.outcome;
        if record.stage != flow.stage {
            if let Some(since) = record.stage_since
                && !record.stage.is_empty()
            {
                let spent = (at - since).num_milliseconds().max(0) as u64;
                *record.phases_ms.entry(record.stage.clone()).or_default() += spent;
            }
            record.stage = flow.stage.to_string();
            record.stage_since = Some(at);
        }
        record.fixes = flow.fixes;
        record.review_rounds = flow.round;
        record.weight = flow.weight;
        if record.digest != flow.digest {
            record.digest.clone_from(&flow.digest);
        }
        match event {
            Event::TestRunCompleted(run) => {
                record.tests_passed = Some(run.passed);
                record.tests_failed = Some(run.failed);
            }
            Event::DecisionMade { decision, .. } => match decision {
                Decision::Promote | Decision::AwaitManualApproval => record.consensus += 1,
                Decision::FixesNeeded => record.fixes_requested += 1,
                Decision::ReturnToDevelopment => record.major_flaws += 1,
                Decision::Rollback => {}
            },
            Event::TrafficSwitched { .. } if !restoring => {
                record.went_live_at.get_or_insert(at);
            }
            Event::AnalysisCompleted(done) => match done.verdict {
                RunVerdict::Successful => record.analysis_runs.successful += 1,
                RunVerdict::Inconclusive => record.analysis_runs.inconclusive += 1,
                RunVerdict::Failed => {
                    record.analysis_runs.failed += 1;
                    record.automated_cause = true;
                }
            },
            Event::RollbackStarted {
                after_promotion,
                reason,
                ..
            } => {
                if record.automated_cause {
                    record.automated_rollback = true;
                    if *after_promotion {
                        record.time_to_detect_ms = record
                            .went_live_at
                            .map(|live| (at - live).num_milliseconds());
                    }
                }
                if *after_promotion {
                    record.restore_started = Some(at);
                }
                record.reason = Some(format!("rolled back: {reason}"));
            }
            Event::AlertReceived(alert) if alert.firing() => record.automated_cause = true,
            Event::StepCompleted { .. } => record.steps_completed += 1,
            Event::ReturnedToDevelopment { reason, .. } => {
                record.reason = Some(format!("returned to development: {reason}"));
            }
            Event::Aborted(call) => {
                record.reason = Some(format!("aborted by {}: {}", call.by, call.reason));
            }
            Event::Failed { reason } => record.reason = Some(format!("failed: {reason}")),
            Event::InputsRejected { missing } => {
                let what: Vec<String> = missing
                    .iter()
                    .map(|m| format!("{}: {}", m.item, m.reason))
                    .collect();
                record.reason = Some(format!("rejected at prepare: {}", what.join("; ")));
            }
            Event::RollbackCompleted { .. } => {
                if let Some(started) = record.restore_started.take() {
                    record.restores_ms.push((at - started).num_milliseconds());
                    record.rolled_back_after_promotion = true;
                }
            }
            Event::RollbackFailed { .. } => record.restore_started = None,
            Event::Completed { outcome } => {
                record.finished_at = Some(at);
                if *outcome == Outcome::Promoted {
                    record.reason = Some(promoted_because(record));
                }
            }
            _ => {}
        }
    }

    fn count_verdict(&mut self, event: &Event) {
        let (member, role, verdict) = match event {
            Event::VerdictRecorded(VerdictRecorded {
                member,
                role,
                answer: Answer { verdict, .. },
                ..
            }) => (member, role.name(), verdict),
            Event::SynthesisRecorded(SynthesisRecorded {
                member,
                answer: Answer { verdict, .. },
                ..
            }) => (member, "senior", verdict),
            _ => return,
        };
        *self
            .verdicts
            .entry(member.clone())
            .or_default()
            .entry(role.to_string())
            .or_default()
            .entry(verdict.name().to_string())
            .or_default() += 1;
    }

    /// Drops the flow states no event can come to any more: ended, and
    /// neither live nor retained for a rollback.
    fn prune(&mut self, app: &str) {
        let Some(state) = self.apps.get(app) else {
            return;
        };
        let live = state.live.as_ref().and_then(LiveRelease::deployment_id);
        let retained: Vec<StreamId> = state.retained.iter().map(|r| r.deployment).collect();
        self.flows.retain(|id, flow| {
            flow.app != app
                || !matches!(flow.phase, Phase::Done(_))
                || Some(*id) == live
                || retained.contains(id)
        });
    }
}

/// What the model reads of a deployment's state after an event: a few
/// fields, so a fold does not copy the whole state per event.
struct Summary {
    app: String,
    release: String,
    outcome: Option<Outcome>,
    done: bool,
    stage: &'static str,
    fixes: FixCounts,
    round: u32,
    retain: u32,
    digest: Option<String>,
    strategy: &'static str,
    weight: Option<u8>,
}

impl Summary {
    fn of(flow: &Deployment) -> Summary {
        Summary {
            app: flow.app.clone(),
            release: flow.release.clone(),
            outcome: flow.outcome(),
            done: matches!(flow.phase, Phase::Done(_)),
            stage: flow.stage(),
            fixes: flow.fixes,
            round: flow.round,
            retain: flow.policy.retain,
            digest: flow.digest.clone(),
            strategy: flow.policy.strategy(),
            weight: flow.weight,
        }
    }
}

/// Why a promoted deployment went live, in one sentence.
fn promoted_because(record: &Record) -> String {
    let mut passed = vec!["its tests".to_string(), "its review".to_string()];
    let runs = record.analysis_runs.successful + record.analysis_runs.inconclusive;
    if runs > 0 {
        passed.push(format!(
            "{runs} analys{}",
            if runs == 1 { "is" } else { "es" }
        ));
    }
    if record.steps_completed > 0 {
        passed.push(format!(
            "{} canary step{}",
            record.steps_completed,
            if record.steps_completed == 1 { "" } else { "s" }
        ));
    }
    let fixes = record.fixes.total();
    let after = if fixes > 0 {
        format!(" after {fixes} fix{}", if fixes == 1 { "" } else { "es" })
    } else {
        String::new()
    };
    format!("promoted: green passed {}{after}", passed.join(", "))
}
