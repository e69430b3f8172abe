//! Risk on planted fraud: a click flooder, a self-referrer, a leaked code and a bot-farm
//! SharedId end at High or Critical with the right reason codes, honest partners at Low —
//! first in a pure run of attributor + router + scorer, then on the real broker with the risk
//! service `kill -9`ed mid-stream and restarted, where the counts must stay exact.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use schemas::risk::{RiskLevel, RiskLevelName, RiskScore};
use schemas::{Attribution, CommissionDecision};
use tests::attribution::{attributor_config, catalog, messages, REFERENCE};
use tests::risk::{
    decode_all, expected_actions, fraud_workload, latest_levels, pure_run, reasons_by_subject,
    risk_config, BOT_FARM, BOT_FARM_PARTNER, DATACENTRE, FLOODER, HONEST, LEAKER, SELF_REFERRER,
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
        (subject(SELF_REFERRER), SELF_REFERRER.to_string(), "self_referral"),
        (subject(LEAKER), LEAKER.to_string(), "code_leakage"),
        (
            format!("shop/{BOT_FARM_PARTNER}/{BOT_FARM}"),
            format!("{BOT_FARM_PARTNER}/{BOT_FARM}"),
            "bot_traffic",
        ),
    ];
    for (id, reason_key, code) in planted {
        let level = levels.get(&id).unwrap_or_else(|| panic!("{id} has a level"));
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
    assert_eq!(blog.level, RiskLevelName::Low, "the farm partner's honest SharedId");
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
        assert!(ids.insert(s.action_id.clone()), "{} scored twice", s.action_id);
        *scored.entry(s.partner_id.clone()).or_default() += 1;
    }
    assert_eq!(scored, expected);
    for (partner, n) in &expected {
        assert_eq!(run.levels[&subject(partner)].scored_actions, *n, "{partner}");
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
