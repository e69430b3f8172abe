//! Risk on planted fraud: a click flooder, a self-referrer, a leaked code and a bot-farm
//! SharedId end at High or Critical with the right reason codes, honest partners at Low —
//! first in a pure run of attributor + router + scorer, then on the real broker with the risk
//! service `kill -9`ed mid-stream and restarted, where the counts must stay exact.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use risk::router::{self, Source};
use risk::state::{Effects, ScorerState};
use schemas::risk::{RiskLevel, RiskLevelName, RiskScore};
use schemas::{Attribution, CommissionDecision};
use tests::attribution::{attributor_config, catalog, messages, REFERENCE};
use tests::risk::{
    decode_all, expected_actions, fraud_workload, latest_levels, pure_run, reasons_by_subject,
    risk_config, settings, BOT_FARM, BOT_FARM_PARTNER, DATACENTRE, FLOODER, HONEST, LEAKER,
    SELF_REFERRER,
};
use tests::{
    binary, consume_until, produce, publish_reference, require_broker, service_env,
    unique_namespace, ServiceProcess,
};

fn subject(partner: &str) -> String {
    format!("shop/{partner}")
}

/// The planted outcome, checked on any run's final levels and scores.
fn assert_planted_outcome(levels: &BTreeMap<String, RiskLevel>, scores: &[RiskScore]) {
    let reasons = reasons_by_subject(scores);
    let bad = |l: &RiskLevel| matches!(l.level, RiskLevelName::High | RiskLevelName::Critical);
    let planted = [
        (subject(FLOODER), FLOODER.to_string(), "click_flooding"),
        (
            subject(SELF_REFERRER),
            SELF_REFERRER.to_string(),
            "self_referral",
        ),
        (subject(LEAKER), LEAKER.to_string(), "code_leakage"),
        (
            format!("shop/{BOT_FARM_PARTNER}/{BOT_FARM}"),
            format!("{BOT_FARM_PARTNER}/{BOT_FARM}"),
            "bot_traffic",
        ),
    ];
    for (id, reason_key, code) in planted {
        let level = levels
            .get(&id)
            .unwrap_or_else(|| panic!("{id} has a level"));
        assert!(bad(level), "{id} is High or Critical: {level:?}");
        assert!(
            reasons[&reason_key].contains(code),
            "{id} was flagged {code}: {:?}",
            reasons[&reason_key]
        );
    }
    for p in HONEST {
        let level = &levels[&subject(p)];
        assert_eq!(level.level, RiskLevelName::Low, "{p}: {level:?}");
        assert_eq!(level.flagged_actions, 0, "{p}: {:?}", reasons.get(p));
    }
    let blog = &levels[&format!("shop/{BOT_FARM_PARTNER}/blog")];
    assert_eq!(
        blog.level,
        RiskLevelName::Low,
        "the farm partner's honest SharedId"
    );
}

#[test]
fn planted_fraud_is_found_and_honest_partners_stay_low_in_a_pure_run() {
    let run = pure_run(&fraud_workload(11), &catalog());
    assert_planted_outcome(&run.levels, &run.scores);
    // Every action that should be scored is scored once, and the levels count exactly them.
    let expected = expected_actions(&run.attributions);
    let mut scored: HashMap<String, i64> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for s in &run.scores {
        assert!(
            ids.insert(s.action_id.clone()),
            "{} scored twice",
            s.action_id
        );
        *scored.entry(s.partner_id.clone()).or_default() += 1;
    }
    assert_eq!(scored, expected);
    for (partner, n) in &expected {
        assert_eq!(
            run.levels[&subject(partner)].scored_actions,
            *n,
            "{partner}"
        );
    }
    // Policy: bot traffic and self-referrals reversed, the rest of the flagged held.
    let farm: Vec<&CommissionDecision> = run
        .decisions
        .iter()
        .filter(|d| d.shared_id.as_deref() == Some(BOT_FARM))
        .collect();
    assert!(!farm.is_empty());
    assert!(farm
        .iter()
        .all(|d| d.decision == schemas::commission::Decision::Reversed));
}

fn latest(messages: &[rdkafka::message::OwnedMessage]) -> BTreeMap<String, RiskLevel> {
    latest_levels(decode_all::<RiskLevel>(messages))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_keeps_counts_exact_and_finds_the_planted_fraud() {
    require_broker();
    let ns = unique_namespace("risk");
    let env = service_env(
        &ns,
        &[
            ("BATCH_LINGER_MS", "20"),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
            ("RISK_DATACENTRE_NETWORKS", DATACENTRE),
        ],
    );
    let attributor = attributor_config(&env);
    let topics = risk_config(&env).common.topics;
    publish_reference(&env, REFERENCE).await.expect("publish");
    tests::create_topics(&[&topics.touchpoints_enriched])
        .await
        .expect("topics");
    let events = fraud_workload(23);
    let expected_run = pure_run(&events, &catalog());
    let expected = expected_actions(&expected_run.attributions);
    let total: i64 = expected.values().sum();
    // All input up front: the attributor's idle clock would otherwise jump to the wall clock
    // between two halves and expire the (historical) workload's touchpoints.
    produce(&topics.touchpoints_enriched, &messages(&events))
        .await
        .expect("produce");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let attributor_task = tokio::spawn(attributor::app::run(
        attributor,
        prometheus::Registry::new(),
        shutdown.clone(),
    ));
    let mut risk = ServiceProcess::start(&binary("risk"), &[], &env).expect("start risk");
    // Kill once a good part of the first half is scored.
    consume_until(&topics.risk_scores, Duration::from_secs(120), |m| {
        m.len() as i64 >= total / 4
    })
    .expect("first scores");
    risk.kill_hard();
    // tansu hands a dead member's partitions over only once its session expired.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut risk = ServiceProcess::start(&binary("risk"), &[], &env).expect("restart risk");

    // Every expected action scored, whatever was re-read.
    let started = Instant::now();
    let scores_messages = consume_until(&topics.risk_scores, Duration::from_secs(240), |m| {
        let ids: std::collections::HashSet<String> = decode_all::<RiskScore>(m)
            .into_iter()
            .map(|s| s.action_id)
            .collect();
        ids.len() as i64 >= total
    })
    .expect("scores");
    eprintln!("all scored {:?} after the restart", started.elapsed());
    // The bot farm's SharedId level can follow its partner's: wait for it too.
    let farm = format!("shop/{BOT_FARM_PARTNER}/{BOT_FARM}");
    let levels_messages = consume_until(&topics.risk_levels, Duration::from_secs(60), |m| {
        let l = latest(m);
        l.contains_key(&farm)
            && expected
                .iter()
                .all(|(p, n)| l.get(&subject(p)).is_some_and(|l| l.scored_actions == *n))
    })
    .expect("levels");
    let status = risk.terminate(Duration::from_secs(30)).expect("risk stops");
    assert!(status.success(), "risk exits 0 on SIGTERM: {status}");
    shutdown.cancel();
    attributor_task
        .await
        .expect("joins")
        .expect("attributor ok");

    // Copies of a score or decision (re-emitted after the kill) are byte-identical.
    let mut by_id: HashMap<String, Vec<u8>> = HashMap::new();
    for m in &scores_messages {
        let bytes = rdkafka::message::Message::payload(m)
            .unwrap_or_default()
            .to_vec();
        let s: RiskScore = schemas::decode(&bytes).expect("score");
        if let Some(prev) = by_id.insert(s.action_id.clone(), bytes.clone()) {
            assert_eq!(prev, bytes, "two different scores of {}", s.action_id);
        }
    }
    let scores: Vec<RiskScore> = by_id
        .values()
        .map(|b| schemas::decode(b).expect("score"))
        .collect();
    let mut per_partner: HashMap<String, i64> = HashMap::new();
    for s in &scores {
        *per_partner.entry(s.partner_id.clone()).or_default() += 1;
    }
    assert_eq!(
        per_partner, expected,
        "each expected action scored exactly once"
    );

    // The attributions the service saw are the pure run's, so the expected counts hold.
    let attributions: BTreeMap<String, Attribution> = decode_all::<Attribution>(
        &tests::consume(
            &topics.attributions,
            expected_run.attributions.len(),
            Duration::from_secs(60),
        )
        .expect("attributions"),
    )
    .into_iter()
    .map(|a| (a.attribution_id.clone(), a))
    .collect();
    assert_eq!(expected_actions(&attributions), expected);

    // Level counts are exact: no action counted twice, none lost.
    let levels = latest(&levels_messages);
    for (p, n) in &expected {
        assert_eq!(levels[&subject(p)].scored_actions, *n, "{p}");
    }
    assert_planted_outcome(&levels, &scores);

    let decisions = tests::consume(
        &topics.commissions,
        expected_run.decisions.len(),
        Duration::from_secs(60),
    )
    .expect("decisions");
    let mut decided: HashMap<String, Vec<u8>> = HashMap::new();
    for m in &decisions {
        let bytes = rdkafka::message::Message::payload(m)
            .unwrap_or_default()
            .to_vec();
        let d: CommissionDecision = schemas::decode(&bytes).expect("decision");
        if let Some(prev) = decided.insert(d.commission_id.clone(), bytes.clone()) {
            assert_eq!(
                prev, bytes,
                "two different decisions for {}",
                d.commission_id
            );
        }
    }
    assert_eq!(decided.len(), expected_run.decisions.len());
}

/// Feeds the scorer one whole input before the other, as a backfill can (the router reads
/// one topic faster): every action must still join its context and be scored once.
fn score_one_side_first(attributions_first: bool) -> (Effects, ScorerState) {
    let events = fraud_workload(23);
    let cat = catalog();
    let run = pure_run(&events, &cat);
    let mut signals = Vec::new();
    for (i, a) in run.attributions.values().enumerate() {
        let bytes = schemas::encode(a).expect("encodes");
        let source = Source {
            topic: "attributions",
            partition: 0,
            offset: i as i64,
        };
        signals.push(router::from_attribution(source, a, &bytes));
    }
    let touch: Vec<_> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let source = Source {
                topic: "enriched",
                partition: 0,
                offset: i as i64,
            };
            router::from_touchpoint(source, e)
        })
        .collect();
    if attributions_first {
        signals.extend(touch);
    } else {
        signals.splice(0..0, touch);
    }
    let mut state = ScorerState::new();
    let mut effects = Effects::default();
    for (offset, s) in signals.iter().enumerate() {
        state
            .apply(offset as i64, s, &cat, &settings(), &mut effects)
            .expect("applies");
    }
    (effects, state)
}

#[test]
fn either_input_may_run_a_whole_workload_ahead_of_the_other() {
    for attributions_first in [true, false] {
        let (effects, state) = score_one_side_first(attributions_first);
        assert_eq!(
            effects.scores.len(),
            600,
            "attributions first: {attributions_first}"
        );
        assert_eq!(effects.scored_without_context, 0);
        assert_eq!(state.joining(), 0, "nothing left in the join buffer");
    }
}

/// A scorer crashing mid-checkpoint: the signals of the pure run, checkpointed every
/// `batch` signals; at `crash` the batch's action records are written, only some of its
/// other keys (`keep` decides which), no position, and nothing committed. A new scorer
/// restores the written records and re-reads from the last commit.
fn crash_and_restore(
    batch: usize,
    crash: usize,
    keep: &mut dyn FnMut(&str) -> bool,
) -> (Vec<RiskScore>, BTreeMap<String, RiskLevel>) {
    let events = fraud_workload(23);
    let cat = catalog();
    // The signal log as the pure run ordered it.
    let mut signals = Vec::new();
    let mut attributor = attributor::state::PartitionState::new();
    let mut forwarded = 0i64;
    for (i, e) in events.iter().enumerate() {
        let mut fx = attributor::state::Effects::default();
        let _rejected = attributor.apply(i as i64, e, &cat, &tests::attribution::limits(), &mut fx);
        if let Some(s) = router::from_touchpoint(
            Source {
                topic: "enriched",
                partition: 0,
                offset: i as i64,
            },
            e,
        ) {
            signals.push(s);
        }
        for a in fx.attributions {
            let bytes = schemas::encode(&a).expect("encodes");
            signals.push(router::from_attribution(
                Source {
                    topic: "attributions",
                    partition: 0,
                    offset: forwarded,
                },
                &a,
                &bytes,
            ));
            forwarded += 1;
        }
    }
    let mut log: BTreeMap<String, Option<schemas::RiskState>> = BTreeMap::new();
    let persist = |log: &mut BTreeMap<String, Option<schemas::RiskState>>,
                   changes: risk::state::Changes| {
        for (k, r) in changes {
            log.insert(k, r);
        }
    };
    let mut effects = Effects::default();
    let mut state = ScorerState::new();
    let mut committed = 0usize;
    for (offset, s) in signals.iter().enumerate() {
        state
            .apply(offset as i64, s, &cat, &settings(), &mut effects)
            .expect("applies");
        if offset + 1 == crash {
            persist(&mut log, state.take_action_changes());
            let partial: risk::state::Changes = state
                .take_changes()
                .into_iter()
                .filter(|(k, _)| keep(k))
                .collect();
            persist(&mut log, partial);
            break;
        }
        if (offset + 1) % batch == 0 {
            persist(&mut log, state.take_action_changes());
            persist(&mut log, state.take_changes());
            if let Some(p) = state.take_position() {
                log.insert(runtime::stateful::POSITION_KEY.into(), Some(p));
            }
            committed = offset + 1;
        }
    }
    let mut state = ScorerState::restore(log.into_values().flatten());
    for (offset, s) in signals.iter().enumerate().skip(committed) {
        state
            .apply(offset as i64, s, &cat, &settings(), &mut effects)
            .expect("applies");
    }
    (effects.scores, latest_levels(effects.levels))
}

#[test]
fn a_crash_at_any_point_of_a_checkpoint_scores_nothing_twice_and_loses_nothing() {
    let (clean, clean_levels) = crash_and_restore(usize::MAX, usize::MAX, &mut |_| true);
    let clean: BTreeMap<String, RiskScore> = clean
        .into_iter()
        .map(|s| (s.action_id.clone(), s))
        .collect();
    let mut rng = tests::workload::Rng::new(5);
    for _ in 0..12 {
        let batch = 20 + rng.below(400) as usize;
        let crash = 1 + rng.below(4_000) as usize;
        let (scores, levels) = crash_and_restore(batch, crash, &mut |_| rng.below(2) == 0);
        let mut distinct: BTreeMap<String, RiskScore> = BTreeMap::new();
        for s in scores {
            if let Some(prev) = distinct.insert(s.action_id.clone(), s.clone()) {
                assert_eq!(
                    prev, s,
                    "a re-emitted score is identical (batch {batch}, crash {crash})"
                );
            }
        }
        assert_eq!(distinct, clean, "batch {batch}, crash {crash}");
        // Final levels: counts exact; a subject's last record equals the clean run's.
        for (id, level) in &clean_levels {
            assert_eq!(
                levels
                    .get(id)
                    .map(|l| (l.scored_actions, l.flagged_actions)),
                Some((level.scored_actions, level.flagged_actions)),
                "{id} (batch {batch}, crash {crash})"
            );
        }
    }
}
