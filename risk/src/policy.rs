//! A program's risk policy applied to one scored action: payable, held for review, or
//! reversed, and until when it is held. Pure.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use schemas::commission::Decision;
use schemas::reference::RiskPolicy;
use schemas::risk::RiskLevelName;

use crate::rules::code;

/// Decision reason added when a partner's level lengthened the hold.
pub const HIGH_RISK_HOLD: &str = "high_risk_hold";

/// Decision reason of a commission held because its specialist is not verified.
pub const UNVERIFIED_SPECIALIST: &str = "unverified_specialist";

/// A program that holds unverified specialists' commissions (`hold_unverified_specialists`)
/// holds a payable commission of a specialist the trust service has not verified: decision
/// `held`, reason [`UNVERIFIED_SPECIALIST`] (the only one that holds it, so verification may
/// approve it). Held and reversed commissions, and other partners', are left as decided.
pub fn hold_unverified(
    decision: &mut schemas::CommissionDecision,
    policy: &RiskPolicy,
    is_specialist: bool,
    verified: bool,
) {
    if policy.hold_unverified_specialists
        && is_specialist
        && !verified
        && decision.decision == Decision::Payable
        && decision.kind == schemas::commission::CommissionKind::Commission
    {
        decision.decision = Decision::Held;
        decision.decision_reasons.push(UNVERIFIED_SPECIALIST.into());
    }
}

/// The policy of programs without one: Risk % over 30 days, at least 20 scored actions,
/// Elevated from 5 %, High from 15 %, Critical from 30 % (the reference file's defaults);
/// self-referrals and bot traffic reversed, every other reason held for review; partners at
/// High or Critical held 30 days longer.
pub fn default_policy() -> RiskPolicy {
    RiskPolicy {
        window_days: 30,
        min_sample: 20,
        elevated_percent: Decimal::from(5),
        high_percent: Decimal::from(15),
        critical_percent: Decimal::from(30),
        thresholds: Default::default(),
        hold_reasons: [
            code::TOO_FAST,
            code::CLICK_FLOODING,
            code::SHARED_FINGERPRINT,
            code::CODE_LEAKAGE,
            code::VELOCITY_SPIKE,
        ]
        .map(String::from)
        .to_vec(),
        reverse_reasons: [code::SELF_REFERRAL, code::BOT_TRAFFIC]
            .map(String::from)
            .to_vec(),
        high_risk_hold_seconds: 30 * 86_400,
        hold_unverified_specialists: false,
    }
}

/// What the policy decides for one commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Payable, held or reversed.
    pub decision: Decision,
    /// The reason codes that fired, then [`HIGH_RISK_HOLD`] if it applied.
    pub reasons: Vec<String>,
    /// Earliest approval.
    pub hold_until: DateTime<Utc>,
}

/// Decides a scored action: any reason in `reverse_reasons` reverses; else any in
/// `hold_reasons` holds for review; else payable (a fired reason the policy names in neither
/// list only counts towards Risk %). The hold runs from the conversion for the program's hold
/// period, plus `high_risk_hold_seconds` when the partner is at High or Critical.
pub fn decide(
    policy: &RiskPolicy,
    fired: &[String],
    partner_level: RiskLevelName,
    occurred_at: DateTime<Utc>,
    program_hold_seconds: i64,
) -> Outcome {
    let named = |list: &[String]| fired.iter().any(|c| list.contains(c));
    let decision = if named(&policy.reverse_reasons) {
        Decision::Reversed
    } else if named(&policy.hold_reasons) {
        Decision::Held
    } else {
        Decision::Payable
    };
    let mut reasons = fired.to_vec();
    let mut hold = program_hold_seconds;
    if matches!(partner_level, RiskLevelName::High | RiskLevelName::Critical)
        && policy.high_risk_hold_seconds > 0
    {
        hold += policy.high_risk_hold_seconds;
        reasons.push(HIGH_RISK_HOLD.into());
    }
    Outcome {
        decision,
        reasons,
        hold_until: occurred_at + Duration::seconds(hold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn unverified_specialists_are_held_only_where_the_program_says_and_only_if_payable() {
        let mut p = default_policy();
        let decided = |p: &RiskPolicy, specialist: bool, verified: bool, d: Decision| {
            let mut c = schemas::examples::commission_decision();
            c.decision = d;
            c.decision_reasons.clear();
            hold_unverified(&mut c, p, specialist, verified);
            (c.decision, c.decision_reasons)
        };
        assert_eq!(
            decided(&p, true, false, Decision::Payable).0,
            Decision::Payable,
            "off by default"
        );
        p.hold_unverified_specialists = true;
        assert_eq!(
            decided(&p, true, false, Decision::Payable),
            (Decision::Held, vec![UNVERIFIED_SPECIALIST.to_string()])
        );
        assert_eq!(
            decided(&p, true, true, Decision::Payable).0,
            Decision::Payable
        );
        assert_eq!(
            decided(&p, false, false, Decision::Payable).0,
            Decision::Payable
        );
        assert_eq!(
            decided(&p, true, false, Decision::Reversed),
            (Decision::Reversed, vec![])
        );
        assert_eq!(
            decided(&p, true, false, Decision::Held),
            (Decision::Held, vec![])
        );
    }

    #[test]
    fn reverse_beats_hold_beats_payable() {
        let p = default_policy();
        let d = |codes: &[&str]| {
            let fired: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
            decide(&p, &fired, RiskLevelName::Low, at(), 86_400).decision
        };
        assert_eq!(d(&[]), Decision::Payable);
        assert_eq!(d(&[code::TOO_FAST]), Decision::Held);
        assert_eq!(d(&[code::TOO_FAST, code::BOT_TRAFFIC]), Decision::Reversed);
        assert_eq!(d(&[code::SELF_REFERRAL]), Decision::Reversed);
    }

    #[test]
    fn a_reason_the_policy_does_not_name_only_counts() {
        let mut p = default_policy();
        p.hold_reasons.clear();
        let out = decide(&p, &[code::TOO_FAST.into()], RiskLevelName::Low, at(), 0);
        assert_eq!(out.decision, Decision::Payable);
        assert_eq!(out.reasons, [code::TOO_FAST]);
    }

    #[test]
    fn high_and_critical_partners_are_held_longer() {
        let p = default_policy();
        for (level, extra) in [
            (RiskLevelName::InsufficientData, 0),
            (RiskLevelName::Low, 0),
            (RiskLevelName::Elevated, 0),
            (RiskLevelName::High, 30),
            (RiskLevelName::Critical, 30),
        ] {
            let out = decide(&p, &[], level, at(), 7 * 86_400);
            assert_eq!(
                out.hold_until,
                at() + Duration::days(7 + extra),
                "{level:?}"
            );
            assert_eq!(out.reasons.contains(&HIGH_RISK_HOLD.to_string()), extra > 0);
            assert_eq!(out.decision, Decision::Payable);
        }
    }
}
