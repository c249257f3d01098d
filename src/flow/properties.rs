//! Property tests of the flow: random worlds (health, fixes, tests,
//! verdicts, people's commands) drive deployments under random policies,
//! and every path is checked against the invariants of DESIGN.md.

use crate::events::payloads::{Drained, FixAttempted, Intervention};
use proptest::prelude::*;

use super::simulate::*;
use super::*;
use crate::events::{
    AnalysisPhase, Event, ManualPause, Outcome, RolloutStep, RunVerdict, Slot, Tier,
    decode_payload, encode_payload,
};

fn rollout_step() -> impl Strategy<Value = RolloutStep> {
    prop_oneof![
        (0u8..=100).prop_map(RolloutStep::SetWeight),
        (1u64..100).prop_map(RolloutStep::PauseS),
        Just(RolloutStep::Pause(ManualPause::Manual)),
        Just(RolloutStep::Analysis("c0".into())),
    ]
}

/// Blue/Green, or a canary of random steps, with or without a background
/// analysis starting at one of them.
fn canary() -> impl Strategy<Value = (Option<Vec<RolloutStep>>, Option<u32>)> {
    prop_oneof![
        Just((None, None)),
        (
            proptest::collection::vec(rollout_step(), 1..6),
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(|(steps, from, background)| {
                let from = u32::from(from) % steps.len() as u32;
                (Some(steps), background.then_some(from))
            }),
    ]
}

fn world() -> impl Strategy<Value = World> {
    (
        canary(),
        [0u32..3, 0u32..3, 0u32..3],
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        1u32..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        (0usize..3, 0usize..3),
    )
        .prop_map(
            |(
                (canary, background_from),
                fix,
                quorum_all,
                manual_gate,
                juniors,
                max_rounds,
                forge,
                commit,
                first_deploy,
                (analyses, post_analyses),
            )| {
                World {
                    canary,
                    background_from,
                    analyses,
                    post_analyses,
                    fix,
                    quorum_all,
                    manual_gate,
                    juniors,
                    max_rounds,
                    forge,
                    commit,
                    first_deploy,
                }
            },
        )
}

fn rank(tier: Tier) -> u8 {
    match tier {
        Tier::Driver => 0,
        Tier::Senior => 1,
        Tier::Trio => 2,
    }
}

/// What must hold in every state a deployment can reach.
fn check_state(state: &Deployment, before: &Deployment) {
    for tier in [Tier::Driver, Tier::Senior, Tier::Trio] {
        assert!(
            state.fixes.get(tier) <= state.policy.attempts(tier),
            "{state:#?}"
        );
    }
    assert!(state.round <= state.policy.max_rounds, "{state:#?}");
    assert!(rank(state.tier) >= rank(before.tier), "the tier went down");
    if let Phase::Fixing { .. } = state.phase {
        assert!(
            state.fixes.get(state.tier) < state.policy.attempts(state.tier),
            "fixing at a spent tier: {state:#?}"
        );
    }
    // Total: every state has a next step.
    let _ = next_step(state);
}

/// Drives one deployment; returns its events and the steps it took.
fn run(world: &World, choices: &[u8]) -> (Vec<Event>, Vec<Step>) {
    let mut events = vec![requested(world)];
    let mut state = Deployment::fold(&events);
    let mut steps = Vec::new();
    let mut rolled_back_after_promotion = false;
    for (i, &choice) in choices.iter().enumerate() {
        let step = next_step(&state);
        steps.push(step.clone());
        // Now and then something that does not fit, or a person's command.
        let stray = i % 7 == 3 && choice % 5 == 0;
        // The background lane answers between the steps' answers.
        let background = i % 3 == 1 && !stray;
        let input = if let Some(measured) = background
            .then(|| background_answer(&state, choice))
            .flatten()
        {
            measured
        } else if stray {
            stray_input(choice / 5)
        } else {
            if rolled_back_after_promotion && matches!(step, Step::Finished(_)) {
                break;
            }
            match world_answer(&step, choice) {
                Some(input) => input,
                None => break,
            }
        };
        if matches!(input, Input::Rollback { .. }) && state.outcome() == Some(Outcome::Promoted) {
            rolled_back_after_promotion = true;
        }
        match decide(&state, input) {
            Ok(new) => {
                let before = state.clone();
                for event in &new {
                    state.apply(event);
                }
                assert_eq!(state.version, before.version + new.len() as u64);
                check_state(&state, &before);
                events.extend(new);
            }
            // A first deploy has nothing to roll back to.
            Err(Refusal::NothingToRollBackTo) if world.first_deploy => break,
            Err(_) => assert!(stray, "the world's own answer was refused at {step:?}"),
        }
    }
    (events, steps)
}

/// The slot that serves traffic after each prefix of `events`.
fn check_blue_safety(world: &World, events: &[Event], steps: &[Step]) {
    let mut serving: Option<Slot> = (!world.first_deploy).then_some(Slot::Blue);
    let mut drained: Vec<Slot> = Vec::new();
    for event in events {
        match event {
            Event::TrafficSwitched { from, to, .. } => {
                assert_eq!(*from, serving, "switched from a slot that was not serving");
                serving = Some(*to);
                drained.clear();
            }
            Event::Drained(Drained { slot, .. }) => drained.push(*slot),
            Event::BlueStopped { slot, .. } => {
                assert_ne!(Some(*slot), serving, "stopped the serving slot");
                assert!(drained.contains(slot), "stopped {slot:?} before it drained");
            }
            _ => {}
        }
    }
    let _ = steps;
}

/// A canary: green leaves the router's split before it ever stops; traffic
/// moves to green whole only after every step ended well (or `--full`);
/// a failed step or background analysis never leads to the switch; each
/// weight is the one its step asks for; a first deploy has no steps.
fn check_canary(world: &World, events: &[Event]) {
    let steps = world.canary.clone().unwrap_or_default();
    let mut split_on = false;
    let mut completed: Vec<u32> = Vec::new();
    let mut current: Option<u32> = None;
    let mut full = false;
    let mut failed = false;
    let mut leaving = false;
    for event in events {
        match event {
            Event::StepStarted { index, step } => {
                assert!(!world.first_deploy, "a first deploy took a canary step");
                assert_eq!(
                    Some(step),
                    steps.get(*index as usize),
                    "a step not configured"
                );
                let expected = current.map_or(0, |i| i + 1);
                assert_eq!(*index, expected, "steps out of order");
                current = Some(*index);
            }
            Event::StepCompleted { index, .. } => {
                assert_eq!(Some(*index), current, "completed a step not started");
                completed.push(*index);
            }
            // Once the canary is being left, a weight is the withdrawal's
            // 0, even in a `set_weight = 0` step whose own answer was
            // dropped for it.
            Event::RollbackStarted { .. } | Event::Aborted(_) | Event::Failed { .. } => {
                leaving = true
            }
            Event::WeightSet { percent } => {
                let at_step = current.and_then(|i| steps.get(i as usize));
                match at_step {
                    Some(RolloutStep::SetWeight(p))
                        if !leaving && !completed.contains(&current.unwrap_or(0)) =>
                    {
                        assert_eq!(percent, p);
                        split_on = true;
                    }
                    _ => {
                        assert_eq!(*percent, 0, "a weight outside a set_weight step");
                        split_on = false;
                    }
                }
            }
            Event::ManuallyApproved(call) if call.full => full = true,
            Event::AnalysisCompleted(done)
                if matches!(
                    done.phase,
                    AnalysisPhase::Canary | AnalysisPhase::Background
                ) && done.verdict == RunVerdict::Failed =>
            {
                failed = true
            }
            Event::GreenStopped { .. } => {
                assert!(
                    !split_on,
                    "green stopped while the router still sent it traffic"
                )
            }
            Event::TrafficSwitched { .. } if world.canary.is_some() && !world.first_deploy => {
                assert!(!failed, "switched after a failed canary analysis");
                let all = (0..steps.len() as u32).all(|i| completed.contains(&i));
                let skipped =
                    full && (current.is_none() || completed.contains(&current.unwrap_or(0)));
                assert!(
                    all || skipped,
                    "switched before every step ended: {completed:?}"
                );
                split_on = false;
            }
            _ => {}
        }
    }
    if world.canary.is_none() {
        assert!(current.is_none());
    }
}

/// Traffic moves to green only after every pre-promotion analysis ended
/// well (or a person approved an inconclusive one); a failed one rolls back
/// with blue never having stopped serving. After the switch, a failed
/// post-promotion analysis sends traffic straight back to blue, which was
/// never stopped, and the deployment ends rolled back.
fn check_analyses(world: &World, events: &[Event]) {
    let mut passed = 0;
    let mut failed_before = false;
    let mut failed_after = false;
    let mut switches = 0;
    for event in events {
        match event {
            Event::AnalysisCompleted(done) => match (done.phase, done.verdict) {
                (AnalysisPhase::PrePromotion, RunVerdict::Failed) => failed_before = true,
                (AnalysisPhase::PrePromotion, _) => passed += 1,
                (AnalysisPhase::PostPromotion, RunVerdict::Failed) => failed_after = true,
                _ => {}
            },
            Event::TrafficSwitched { to, .. } => {
                switches += 1;
                if switches == 1 {
                    assert_eq!(
                        passed, world.analyses,
                        "switched before every analysis ended well"
                    );
                }
                if failed_after && switches == 2 {
                    assert_eq!(*to, Slot::Blue, "a failed watch goes back to blue");
                }
            }
            Event::GreenStarted(_) if failed_after => {
                panic!("a failed watch started an instance instead of going back to blue")
            }
            _ => {}
        }
        if failed_before {
            assert!(
                !matches!(
                    event,
                    Event::TrafficSwitched { .. } | Event::BlueStopped { .. }
                ),
                "a failed analysis went on to {event:?}"
            );
        }
    }
    if failed_after {
        assert_eq!(
            Deployment::fold(events).outcome(),
            Some(Outcome::RolledBack),
            "a failed watch ends rolled back"
        );
    }
}

/// The Driver tier's remedy fits the failure: a port in use gets a new
/// port, a dependency not up a back-off; it never restarts green after
/// the same crash twice in a row, and a failed test run gets one re-run
/// (the tests again, green untouched) and no other Driver fix.
fn check_triage(events: &[Event]) {
    use super::evidence::{Failure, classify, headline};
    use super::fix_loop::{BACK_OFF, NEW_PORT, RERUN};
    let mut since_healthy: Vec<String> = Vec::new();
    let mut failed_runs = 0;
    let mut cause: Option<&Event> = None;
    for (i, event) in events.iter().enumerate() {
        match event {
            Event::GreenHealthy(_) => since_healthy.clear(),
            Event::GreenUnhealthy(unhealthy) => {
                since_healthy.push(headline(&unhealthy.diagnosis).to_string());
                cause = Some(event);
            }
            Event::TestRunCompleted(run) => {
                if super::state::tests_passed(run.failed, run.exit_code) {
                    failed_runs = 0;
                } else {
                    failed_runs += 1;
                    cause = Some(event);
                }
            }
            Event::DecisionMade { .. } => cause = Some(event),
            Event::FixAttempted(fix) if fix.tier == Tier::Driver => match cause {
                Some(Event::GreenUnhealthy(unhealthy)) => {
                    let kind = classify(&unhealthy.diagnosis);
                    let twice = matches!(since_healthy.as_slice(), [.., a, b] if a == b);
                    assert!(
                        !(twice && kind == Failure::Crashed),
                        "restarted after the same crash twice: {fix:?}"
                    );
                    match kind {
                        Failure::PortInUse => assert!(fix.action.starts_with(NEW_PORT), "{fix:?}"),
                        Failure::DependencyNotUp => {
                            assert!(fix.action.starts_with(BACK_OFF), "{fix:?}")
                        }
                        _ => assert!(!fix.action.starts_with(RERUN), "{fix:?}"),
                    }
                    assert!(fix.action.ends_with(')'), "no reason: {fix:?}");
                }
                Some(Event::TestRunCompleted(_)) => {
                    assert_eq!(failed_runs, 1, "a Driver fix after the re-run: {fix:?}");
                    assert!(fix.action.starts_with(RERUN), "{fix:?}");
                    if fix.outcome == crate::events::FixOutcome::Applied {
                        assert!(
                            matches!(events.get(i + 1), Some(Event::TestRunIntended { .. })),
                            "a re-run that did not run the tests: {:?}",
                            events.get(i + 1)
                        );
                    }
                }
                other => panic!("a Driver fix after {other:?}"),
            },
            _ => {}
        }
    }
}

fn check_ending(events: &[Event]) {
    let completions: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Completed { .. }))
        .map(|(i, _)| i)
        .collect();
    let restore = events.iter().position(|e| {
        matches!(
            e,
            Event::RollbackStarted {
                after_promotion: true,
                ..
            }
        )
    });
    match restore {
        None => assert_eq!(completions.len(), 1, "{events:#?}"),
        // Back to a kept blue during the watch after the switch: the
        // deployment had not ended; it ends once, rolled back.
        Some(at) if completions.iter().all(|i| *i > at) => {
            assert_eq!(completions.len(), 1, "{events:#?}");
        }
        Some(at) => {
            // One ending before the rollback after promotion, at most one after.
            assert_eq!(completions.iter().filter(|i| **i < at).count(), 1);
            assert!(completions.iter().filter(|i| **i > at).count() <= 1);
        }
    }
    // Nothing follows an ending but a rollback after promotion.
    if let Some(&first) = completions.first()
        && let Some(next) = events.get(first + 1)
    {
        assert!(
            matches!(
                next,
                Event::RollbackStarted {
                    after_promotion: true,
                    ..
                }
            ),
            "{next:?} after the end"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_path_keeps_the_invariants(world in world(), choices in proptest::collection::vec(any::<u8>(), 400)) {
        let (events, steps) = run(&world, &choices);
        let state = Deployment::fold(&events);
        // Every path ends, in exactly one terminal status.
        prop_assert!(matches!(next_step(&state), Step::Finished(_)), "did not end: {:?}", state.phase);
        check_ending(&events);
        check_blue_safety(&world, &events, &steps);
        check_analyses(&world, &events);
        check_canary(&world, &events);
        check_triage(&events);
    }

    #[test]
    fn a_failing_completion_step_never_changes_how_a_deployment_ends(world in world(), choices in proptest::collection::vec(any::<u8>(), 400)) {
        let (events, _) = run(&world, &choices);
        let mut state = Deployment::empty();
        for event in &events {
            state.apply(event);
            if super::phase::stage_of(&state.phase).is_none() {
                continue;
            }
            let ending = super::phase::ending(&state.phase);
            let mut failed = state.clone();
            let input = Input::EffectFailed { reason: "disk full".into() };
            for event in decide(&failed, input).expect("a completion step may fail") {
                failed.apply(&event);
            }
            // The rest as the world answers when all goes well.
            while let step @ Step::Do(_) = next_step(&failed) {
                let input = world_answer(&step, 43).expect("an answer");
                for event in decide(&failed, input).expect("the world's answer fits") {
                    failed.apply(&event);
                }
            }
            prop_assert_eq!(failed.outcome(), Some(ending));
        }
    }

    #[test]
    fn the_same_events_always_fold_to_the_same_state(world in world(), choices in proptest::collection::vec(any::<u8>(), 400)) {
        let (events, _) = run(&world, &choices);
        let once = Deployment::fold(&events);
        prop_assert_eq!(&once, &Deployment::fold(&events));
        // Through the codec, as a replay reads them from the log.
        let decoded: Vec<Event> = events
            .iter()
            .map(|e| {
                let bytes = encode_payload(e).expect("encodes");
                decode_payload(crate::events::SCHEMA_VERSION, &bytes, &crate::events::Upcasters::standard())
                    .expect("decodes")
            })
            .collect();
        prop_assert_eq!(&once, &Deployment::fold(&decoded));
        // Any prefix folds to the state the live run had at that point.
        let cut = choices[0] as usize % events.len();
        let mut live = Deployment::empty();
        for event in &events[..cut] {
            live.apply(event);
        }
        prop_assert_eq!(live, Deployment::fold(&events[..cut]));
    }

    #[test]
    fn any_input_in_any_reachable_state_is_refused_or_gives_a_valid_state(
        world in world(),
        choices in proptest::collection::vec(any::<u8>(), 400),
        cut in 0usize..400,
        stray in any::<u8>(),
    ) {
        let (events, _) = run(&world, &choices);
        let state = Deployment::fold(&events[..=cut.min(events.len() - 1)]);
        let input = stray_input(stray);
        if let Ok(new) = decide(&state, input) {
            let mut next = state.clone();
            for event in &new {
                next.apply(event);
            }
            check_state(&next, &state);
        }
    }
}

#[test]
fn a_healthy_release_with_approving_reviewers_is_promoted_after_blue_drains() {
    let world = World::defaults();
    // Choice 43: started, healthy, tests pass, every verdict approves
    // without findings, no rollback afterwards.
    let (events, _) = run(&world, &[43; 40]);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind().name()).collect();
    assert_eq!(
        kinds,
        [
            "deployment_requested",
            "inputs_validated",
            "green_deploy_intended",
            "green_started",
            "green_healthy",
            "test_run_intended",
            "test_run_completed",
            "review_requested",
            "verdict_recorded",
            "verdict_recorded",
            "verdict_recorded",
            "synthesis_recorded",
            "verdict_recorded",
            "verdict_recorded",
            "decision_made",
            "traffic_switched",
            "drained",
            "blue_stopped",
            "report_written",
            "completed",
        ]
    );
    assert_eq!(Deployment::fold(&events).outcome(), Some(Outcome::Promoted));
}

fn canary_world() -> World {
    World {
        canary: Some(vec![
            RolloutStep::SetWeight(10),
            RolloutStep::Analysis("c0".into()),
            RolloutStep::PauseS(30),
            RolloutStep::SetWeight(50),
            RolloutStep::Pause(ManualPause::Manual),
        ]),
        background_from: Some(1),
        ..World::defaults()
    }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind().name()).collect()
}

#[test]
fn a_healthy_canary_takes_every_step_then_switches_and_blue_stops_last() {
    // Choice 206: every answer well, analyses too (even: approves at the pause).
    let (events, _) = run(&canary_world(), &[206; 120]);
    let kinds = kinds(&events);
    let from = kinds.iter().position(|k| *k == "step_started").unwrap();
    let to = kinds.iter().position(|k| *k == "traffic_switched").unwrap();
    assert_eq!(
        kinds[from..=to]
            .iter()
            .filter(|k| !k.starts_with("analysis_measured"))
            .copied()
            .collect::<Vec<_>>(),
        [
            "step_started",
            "weight_set",
            "step_completed",
            "step_started",
            "analysis_started",
            "analysis_started",
            "analysis_completed",
            "step_completed",
            "step_started",
            "step_completed",
            "step_started",
            "weight_set",
            "step_completed",
            "step_started",
            "manually_approved",
            "step_completed",
            "analysis_completed",
            "traffic_switched",
        ],
        "{kinds:?}"
    );
    let switched = kinds.iter().position(|k| *k == "traffic_switched").unwrap();
    let stopped = kinds.iter().position(|k| *k == "blue_stopped").unwrap();
    let drained = kinds.iter().position(|k| *k == "drained").unwrap();
    assert!(switched < drained && drained < stopped);
    assert_eq!(Deployment::fold(&events).outcome(), Some(Outcome::Promoted));
}

#[test]
fn a_rejected_canary_pause_withdraws_green_first_and_names_the_step() {
    // Choice 67: all well, but odd: it rejects at the manual pause.
    let (events, _) = run(&canary_world(), &[67; 120]);
    let kinds = kinds(&events);
    let withdrawn = kinds.iter().rposition(|k| *k == "weight_set").unwrap();
    let stopped = kinds.iter().position(|k| *k == "green_stopped").unwrap();
    assert!(withdrawn < stopped, "{kinds:?}");
    assert!(matches!(events[withdrawn], Event::WeightSet { percent: 0 }));
    let reason = events
        .iter()
        .find_map(|e| match e {
            Event::RollbackStarted { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("at step 5 of 5, manual pause; green at 50 %"),
        "{reason}"
    );
    assert!(!kinds.contains(&"traffic_switched"));
    assert_eq!(
        Deployment::fold(&events).outcome(),
        Some(Outcome::RolledBack)
    );
}

#[test]
fn a_full_approval_skips_the_remaining_steps() {
    let world = canary_world();
    let (events, _) = run(&world, &[206; 12]);
    let mut state = Deployment::fold(&events);
    // Walk to the first step's weight.
    while state.weight.is_none() {
        let input = world_answer(&next_step(&state), 206).unwrap();
        for event in decide(&state, input).unwrap() {
            state.apply(&event);
        }
    }
    assert!(state.in_canary());
    let full = Input::Approve(Intervention {
        full: true,
        ..Intervention::by("ana", "hotfix")
    });
    let events = decide(&state, full).unwrap();
    let kinds = kinds(&events);
    assert_eq!(
        kinds,
        ["manually_approved", "step_completed", "analysis_completed"],
        "{kinds:?}"
    );
    for event in &events {
        state.apply(event);
    }
    assert_eq!(
        next_step(&state),
        Step::Do(Effect::SwitchTraffic {
            to: Slot::Green,
            endpoint: state.green_endpoint.clone().unwrap()
        })
    );
    // Not a full one: refused away from a gate.
    let mut again = Deployment::fold(&run(&world, &[206; 12]).0);
    while again.weight.is_none() {
        let input = world_answer(&next_step(&again), 206).unwrap();
        for event in decide(&again, input).unwrap() {
            again.apply(&event);
        }
    }
    assert_eq!(
        decide(&again, Input::Approve(Intervention::by("ana", "ok"))),
        Err(Refusal::NotAtGate)
    );
}

#[test]
fn a_green_that_never_gets_healthy_climbs_every_tier_then_rolls_back() {
    let world = World::defaults();
    // Choice 3: started, never healthy; every fix applies.
    let (events, _) = run(&world, &[3; 80]);
    let tiers: Vec<Tier> = events
        .iter()
        .filter_map(|e| match e {
            Event::FixAttempted(FixAttempted { tier, .. }) => Some(*tier),
            _ => None,
        })
        .collect();
    use Tier::*;
    assert_eq!(tiers, [Driver, Driver, Driver, Senior, Senior, Trio]);
    let state = Deployment::fold(&events);
    assert_eq!(state.outcome(), Some(Outcome::RolledBack));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::TrafficSwitched { .. } | Event::BlueStopped { .. }))
    );
}

#[test]
fn the_random_worlds_reach_every_ending() {
    use std::collections::HashSet;
    let mut seen = HashSet::new();
    let mut restored = false;
    let mut verdicts = HashSet::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as u8
    };
    let mut canaries = std::collections::BTreeSet::new();
    let mut triaged = std::collections::BTreeSet::new();
    for case in 0..600u32 {
        let world = World {
            fix: [case % 3, (case / 3) % 3, (case / 9) % 2],
            quorum_all: case % 2 == 0,
            manual_gate: case % 5 == 0,
            juniors: (case % 3) as usize,
            max_rounds: 1 + case % 3,
            forge: case % 4 == 0,
            commit: case % 3 == 1,
            first_deploy: case % 7 == 0,
            analyses: (case % 3) as usize,
            post_analyses: ((case / 3) % 3) as usize,
            canary: (case % 4 == 1).then(|| {
                vec![
                    RolloutStep::SetWeight(10),
                    RolloutStep::Analysis("c0".into()),
                    RolloutStep::Pause(ManualPause::Manual),
                    RolloutStep::PauseS(30),
                    RolloutStep::SetWeight(50),
                ]
            }),
            background_from: (case % 8 == 1).then_some(1),
        };
        // A canary's world mostly goes well (206), so its steps are reached.
        let canary = world.canary.is_some();
        let choices: Vec<u8> = (0..400)
            .map(|_| match next() {
                c if canary && c > 40 => 206,
                c => c,
            })
            .collect();
        let (events, _) = run(&world, &choices);
        for event in &events {
            if let Event::AnalysisCompleted(done) = event {
                verdicts.insert(done.verdict);
            }
            match event {
                Event::FixAttempted(fix) if fix.tier == Tier::Driver => {
                    for remedy in ["new port", "back-off", "re-run", "recreate"] {
                        if fix.action.starts_with(remedy) {
                            triaged.insert(remedy);
                        }
                    }
                }
                Event::Escalated { reason, .. } if reason.contains("the same way twice") => {
                    triaged.insert("the same crash twice");
                }
                Event::Escalated { reason, .. } if reason.contains("again on a re-run") => {
                    triaged.insert("failed on its re-run");
                }
                _ => {}
            }
        }
        restored |= events.iter().any(|e| {
            matches!(e, Event::RollbackCompleted { .. })
                && events.iter().any(|e| {
                    matches!(
                        e,
                        Event::RollbackStarted {
                            after_promotion: true,
                            ..
                        }
                    )
                })
        });
        let outcome = Deployment::fold(&events).outcome();
        seen.insert(outcome);
        if world.canary.is_some() && !world.first_deploy {
            let stepped = events
                .iter()
                .filter(|e| matches!(e, Event::StepCompleted { .. }))
                .count();
            if outcome == Some(Outcome::Promoted) && stepped > 0 {
                canaries.insert("promoted after its steps");
            }
            let withdrawn = events
                .iter()
                .any(|e| matches!(e, Event::WeightSet { percent: 0 }));
            if withdrawn && outcome == Some(Outcome::RolledBack) {
                canaries.insert("rolled back mid-canary");
            }
            let background = events.iter().any(|e| {
                matches!(e, Event::AnalysisCompleted(done) if done.phase == AnalysisPhase::Background)
            });
            if background {
                canaries.insert("a background run ended");
            }
        }
    }
    assert_eq!(
        canaries.len(),
        3,
        "not every canary path was reached: {canaries:?}"
    );
    assert_eq!(
        triaged.len(),
        6,
        "not every triage path was reached: {triaged:?}"
    );
    assert_eq!(
        verdicts.len(),
        3,
        "not every analysis verdict was reached: {verdicts:?}"
    );
    for outcome in [
        Outcome::Promoted,
        Outcome::RolledBack,
        Outcome::Returned,
        Outcome::Rejected,
        Outcome::Aborted,
        Outcome::Failed,
    ] {
        assert!(
            seen.contains(&Some(outcome)),
            "no path ended {outcome:?}: {seen:?}"
        );
    }
    assert!(restored, "no path rolled back after promotion");
}

#[test]
fn nothing_stops_green_once_its_switch_has_begun() {
    // Choice 43: healthy, tests pass, approvals; stop at the switch.
    let world = World::defaults();
    let mut events = vec![requested(&world)];
    let mut state = Deployment::fold(&events);
    while !matches!(next_step(&state), Step::Do(Effect::SwitchTraffic { .. })) {
        let input = world_answer(&next_step(&state), 43).expect("an answer");
        let new = decide(&state, input).expect("accepted");
        for event in &new {
            state.apply(event);
        }
        events.extend(new);
    }
    let by = || "someone".to_string();
    let abort = Input::Abort(Intervention::by(by(), "stop"));
    assert_eq!(decide(&state, abort), Err(Refusal::AlreadySwitching));
    let rollback = Input::Rollback {
        by: by(),
        reason: "r".into(),
        to_release: None,
    };
    assert_eq!(decide(&state, rollback), Err(Refusal::AlreadySwitching));
}

#[test]
fn every_state_and_step_serializes_for_replay_and_snapshots() {
    let mut seed: u64 = 7;
    for case in 0..200u32 {
        let world = World {
            first_deploy: case % 5 == 0,
            manual_gate: case % 3 == 0,
            ..World::defaults()
        };
        let choices: Vec<u8> = (0..400)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) as u8
            })
            .collect();
        let (events, _) = run(&world, &choices);
        let mut state = Deployment::empty();
        for event in &events {
            state.apply(event);
            serde_json::to_value(next_step(&state)).expect("the step as JSON");
            let json = serde_json::to_string(&state).expect("the state as JSON");
            let back: Deployment = serde_json::from_str(&json).expect("the state back");
            assert_eq!(back, state);
            let packed = rmp_serde::to_vec_named(&state).expect("the state packed");
            let back: Deployment = rmp_serde::from_slice(&packed).expect("unpacked");
            assert_eq!(back, state);
        }
    }
}
