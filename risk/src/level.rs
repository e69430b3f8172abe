//! Risk % and level: flagged scored actions / scored actions over the window, bucketed by the
//! program's thresholds, with "insufficient data" below the minimum sample. Pure and exact.

use rust_decimal::Decimal;
use schemas::reference::RiskPolicy;
use schemas::risk::RiskLevelName;

/// Flagged / scored × 100, rounded half-to-even to two decimals for display (0 with nothing
/// scored). The level is decided on the exact ratio, not on this figure.
pub fn risk_percent(scored: i64, flagged: i64) -> Decimal {
    if scored <= 0 {
        return Decimal::ZERO;
    }
    (Decimal::from(flagged) * Decimal::ONE_HUNDRED / Decimal::from(scored))
        .round_dp(2)
        .normalize()
}

/// The level of `flagged` out of `scored`: from each threshold upwards (`>=`), compared
/// exactly as `flagged × 100 >= threshold × scored`.
pub fn level(scored: i64, flagged: i64, policy: &RiskPolicy) -> RiskLevelName {
    if scored < i64::from(policy.min_sample) || scored == 0 {
        return RiskLevelName::InsufficientData;
    }
    let flagged_x100 = Decimal::from(flagged) * Decimal::ONE_HUNDRED;
    let at_least = |percent: Decimal| flagged_x100 >= percent * Decimal::from(scored);
    if at_least(policy.critical_percent) {
        RiskLevelName::Critical
    } else if at_least(policy.high_percent) {
        RiskLevelName::High
    } else if at_least(policy.elevated_percent) {
        RiskLevelName::Elevated
    } else {
        RiskLevelName::Low
    }
}

/// The level's name as on the topic.
pub fn level_name(level: RiskLevelName) -> &'static str {
    level.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::default_policy;

    #[test]
    fn percent_is_exact_to_two_decimals() {
        assert_eq!(risk_percent(8, 1), Decimal::new(125, 1));
        assert_eq!(risk_percent(3, 1).to_string(), "33.33");
        assert_eq!(risk_percent(3, 2).to_string(), "66.67");
        assert_eq!(risk_percent(0, 0), Decimal::ZERO);
        assert_eq!(risk_percent(20, 20).to_string(), "100");
    }

    #[test]
    fn levels_start_at_each_threshold_inclusive() {
        // Defaults: minimum sample 20; elevated 5 %, high 15 %, critical 30 %.
        let p = default_policy();
        assert_eq!(level(19, 19, &p), RiskLevelName::InsufficientData);
        assert_eq!(level(20, 0, &p), RiskLevelName::Low);
        assert_eq!(level(100, 4, &p), RiskLevelName::Low);
        assert_eq!(level(100, 5, &p), RiskLevelName::Elevated);
        assert_eq!(level(100, 14, &p), RiskLevelName::Elevated);
        assert_eq!(level(100, 15, &p), RiskLevelName::High);
        assert_eq!(level(100, 29, &p), RiskLevelName::High);
        assert_eq!(level(100, 30, &p), RiskLevelName::Critical);
        // 1 of 21 is 4.76 %: Low; 2 of 21 is 9.52 %: Elevated.
        assert_eq!(level(21, 1, &p), RiskLevelName::Low);
        assert_eq!(level(21, 2, &p), RiskLevelName::Elevated);
        // Exactness: 3 of 20 is exactly 15 %.
        assert_eq!(level(20, 3, &p), RiskLevelName::High);
    }

    #[test]
    fn a_policy_with_fractional_thresholds_is_compared_exactly() {
        let mut p = default_policy();
        p.min_sample = 1;
        p.elevated_percent = Decimal::new(333, 1); // 33.3 %
        p.high_percent = Decimal::new(50, 0);
        p.critical_percent = Decimal::new(90, 0);
        assert_eq!(
            level(3, 1, &p),
            RiskLevelName::Elevated,
            "33.33 % >= 33.3 %"
        );
        p.elevated_percent = Decimal::new(3334, 2); // 33.34 %
        assert_eq!(level(3, 1, &p), RiskLevelName::Low);
    }
}
