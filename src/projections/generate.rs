//! Realistic logs for benchmarks and tests: deployments of several apps,
//! driven through the real flow (`flow::decide`) by the simulated world of
//! `flow::simulate`, appended one decision at a time as Drivers append them.
//! Each app's deployments follow one another (its lock), each beside the
//! release the previous ones left live; apps run concurrently.

use chrono::{Duration, Utc};

use crate::events::{Event, EventStore, LiveRelease, Outcome, RolloutStep, StoreError, StreamId};
use crate::flow::simulate::{World, config_text, stray_input, world_answer};
use crate::flow::{Deployment, Effect, Input, Phase, Step, decide, next_step};

/// A small deterministic generator (no cryptographic quality needed).
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u8
    }
}

/// The policy of an app's `n`-th deployment: mostly the defaults, now and
/// then a manual gate, a forge, a stricter review.
fn world(choices: &mut Choices) -> World {
    let c = choices.next();
    World {
        manual_gate: c.is_multiple_of(4),
        forge: c.is_multiple_of(5),
        commit: c % 7 < 3,
        quorum_all: !c.is_multiple_of(3),
        max_rounds: 1 + u32::from(c % 3),
        analyses: usize::from(c % 6 == 1),
        // One in six a canary: a slice, its analysis, a pause, a bigger slice.
        canary: (c % 6 == 2).then(|| {
            vec![
                RolloutStep::SetWeight(20),
                RolloutStep::Analysis("c0".into()),
                RolloutStep::PauseS(5),
                RolloutStep::SetWeight(60),
            ]
        }),
        ..World::defaults()
    }
}

/// The events of one deployment of `app` beside `live`, and what is live
/// after it.
fn deployment(
    app: &str,
    n: usize,
    live: Option<LiveRelease>,
    choices: &mut Choices,
    mut append: impl FnMut(Vec<Event>) -> Result<(), StoreError>,
) -> Result<Option<LiveRelease>, StoreError> {
    let world = world(choices);
    let release = format!("r{n}");
    let requested = Event::DeploymentRequested {
        app: app.to_string(),
        release: release.clone(),
        requested_by: "generator".into(),
        config: config_text(&world).replace("name = \"hello\"", &format!("name = \"{app}\"")),
        rollback_to: live.as_ref().map(|l| l.release.clone()),
        commit: Some(format!("{:07x}", n * 7919)),
        committed_at: Some(Utc::now() - Duration::hours(1 + (n % 48) as i64)),
        blue: live.clone(),
        base_dir: None,
    };
    let mut state = Deployment::fold([&requested]);
    append(vec![requested])?;
    let mut restored = false;
    // Most releases go well; some meet every kind of trouble.
    let smooth = choices.next() < 180;
    for step_count in 0..400 {
        let step = next_step(&state);
        let raw = choices.next();
        // 43 is the world's "all is well" answer to every step.
        let restoring = matches!(state.phase, Phase::Restoring(_));
        let choice = if smooth
            && raw > 8
            && !restoring
            && !matches!(
                step,
                Step::Finished(_) | Step::AwaitApproval | Step::Do(Effect::WatchGreen)
            ) {
            43
        } else {
            raw
        };
        let completing = matches!(
            step,
            Step::Do(
                Effect::WriteReport
                    | Effect::CommitReport { .. }
                    | Effect::FindIssues
                    | Effect::CloseIssue { .. }
            )
        );
        let input = match &step {
            // Some requests lack an input; some completions meet a full
            // disk or a forge that refuses, however well the rest went.
            Step::Do(Effect::ValidateInputs) if raw.is_multiple_of(24) => {
                match world_answer(&step, 0) {
                    Some(input) => input,
                    None => break,
                }
            }
            Step::Do(_) if completing && raw.is_multiple_of(16) => stray_input(4),
            // Now and then a person aborts, or an effect fails for good.
            Step::Do(_) if choice == 13 => stray_input(0),
            Step::Do(_) if choice == 14 => stray_input(4),
            // A rollback after promotion for one promoted release in ten;
            // monitoring speaks up about another one in ten.
            Step::Finished(Outcome::Promoted) if restored || choice % 10 != 0 => {
                let alert = crate::flow::simulate::alert(choice % 4 == 1);
                if choice % 10 == 1
                    && let Ok(events) = decide(&state, alert)
                {
                    append(events)?;
                }
                break;
            }
            Step::Finished(_) => match world_answer(&step, 0) {
                Some(input) => input,
                None => break,
            },
            _ => match world_answer(&step, choice) {
                Some(input) => input,
                None => break,
            },
        };
        if matches!(input, Input::Rollback { .. }) {
            restored = true;
        }
        // As the Driver does: each effect announced before it is done.
        if let Step::Do(effect) = &step
            && !matches!(input, Input::Abort(_) | Input::Rollback { .. })
        {
            let started = Event::EffectStarted {
                effect: effect.name().to_string(),
            };
            state.apply(&started);
            append(vec![started])?;
        }
        if let Ok(events) = decide(&state, input) {
            for event in &events {
                state.apply(event);
            }
            append(events)?;
        }
        debug_assert!(step_count < 399, "a generated deployment did not end");
    }
    // What serves the app now.
    Ok(match state.phase {
        Phase::Done(Outcome::Promoted) if state.switched => Some(LiveRelease {
            slot: state.green_slot,
            release,
            endpoint: state.green_endpoint.clone().unwrap_or_default(),
            deployment: None,
        }),
        Phase::Done(Outcome::RolledBack) if state.switched => state.blue.clone(),
        _ => live,
    })
}

/// Appends about `events` events of realistic deployments over `apps` apps;
/// returns how many it wrote.
pub async fn write(
    store: &EventStore,
    apps: usize,
    events: u64,
    seed: u64,
) -> Result<u64, StoreError> {
    let per_app = events / apps.max(1) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for a in 0..apps.max(1) {
        let store = store.clone();
        tasks.spawn(async move {
            let app = format!("app{a}");
            let mut choices = Choices(seed ^ (a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut live: Option<LiveRelease> = None;
            let mut written = 0u64;
            let mut n = 0;
            while written < per_app {
                let stream = StreamId::new();
                let mut version = 0;
                let mut batches: Vec<Vec<Event>> = Vec::new();
                let next_live = deployment(&app, n, live.clone(), &mut choices, |events| {
                    batches.push(events);
                    Ok(())
                })?;
                for batch in batches {
                    let appended = store.append(stream, version, &batch).await?;
                    version = appended.next_version();
                    written += appended.count;
                }
                live = next_live.map(|mut l| {
                    // The deployment that brought it live, as the control plane records it.
                    if l.deployment.is_none() && l.release == format!("r{n}") {
                        l.deployment = Some(stream.to_string());
                    }
                    l
                });
                n += 1;
            }
            Ok::<u64, StoreError>(written)
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.map_err(|_| StoreError::Closed)??;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use strum::IntoEnumIterator;

    use super::*;
    use crate::events::EventKind;
    use crate::projections::model::Model;
    use crate::projections::runner::{Checkpoints, Projection, catch_up};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuilt_model_equals_the_one_kept_incrementally_across_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let first = write(&store, 3, 3_000, 42).await.unwrap();
        // Kept incrementally: folded up to here, saved, loaded, then on.
        let mut kept = Model::default();
        catch_up(&store, &mut kept).unwrap();
        assert_eq!(kept.next_seq(), first);
        let checkpoints = Checkpoints::open(dir.path()).unwrap();
        checkpoints.save(&kept).unwrap();
        let second = write(&store, 3, 3_000, 7).await.unwrap();
        let mut kept: Model = checkpoints.load().unwrap();
        catch_up(&store, &mut kept).unwrap();
        // Rebuilt from sequence 0.
        let mut rebuilt = Model::default();
        catch_up(&store, &mut rebuilt).unwrap();
        assert_eq!(rebuilt.next_seq(), first + second);
        assert!(
            kept == rebuilt,
            "the rebuilt model differs from the kept one"
        );
        // Over a log with every event kind.
        let kinds: HashSet<EventKind> = store
            .read_from(0)
            .map(|e| e.unwrap().event.kind())
            .collect();
        let missing: Vec<_> = EventKind::iter().filter(|k| !kinds.contains(k)).collect();
        assert!(missing.is_empty(), "the generated log lacks {missing:?}");
        // Flow states are kept only where events can still come.
        assert!(rebuilt.flows_kept() < rebuilt.records().len() / 4);
    }
}
