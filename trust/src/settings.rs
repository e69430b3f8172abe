//! A program's trust settings (pure): the review policy, the ranking weights and whether
//! commissions of specialists not verified are held. Checked as a whole, every problem named,
//! before a program's settings are used.

use rust_decimal::Decimal;

use crate::ranking::Weights;
use crate::reviews::Policy;

/// One program's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Reviews: bursts, the Bayesian prior, the trend.
    pub policy: Policy,
    /// The ranking's weights.
    pub weights: Weights,
    /// Commissions of specialists not verified are held until verification.
    pub hold_unverified: bool,
}

impl Default for Settings {
    /// The documented defaults, holding unverified specialists' commissions.
    fn default() -> Settings {
        Settings {
            policy: Policy::default(),
            weights: Weights::default(),
            hold_unverified: true,
        }
    }
}

impl Settings {
    /// Every problem with these settings (empty: usable).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let p = &self.policy;
        if p.burst_max == 0 {
            out.push("burst_max must be at least 1".to_string());
        }
        if p.burst_window <= chrono::Duration::zero() {
            out.push("burst_window must be positive".to_string());
        }
        if p.prior_mean < Decimal::ONE || p.prior_mean > Decimal::from(5) {
            out.push(format!(
                "prior_mean must be a rating from 1 to 5, not {}",
                p.prior_mean
            ));
        }
        if p.prior_weight <= Decimal::ZERO {
            out.push(format!(
                "prior_weight must be positive, not {}",
                p.prior_weight
            ));
        }
        if p.trend_days < 1 {
            out.push("trend_days must be at least 1".to_string());
        }
        let w = &self.weights;
        let parts = [
            ("verification", w.verification),
            ("quality", w.quality),
            ("reviews", w.reviews),
            ("risk", w.risk),
            ("performance", w.performance),
        ];
        for (name, weight) in parts {
            if weight < Decimal::ZERO {
                out.push(format!(
                    "weight `{name}` must not be negative, not {weight}"
                ));
            }
        }
        let sum: Decimal = parts.iter().map(|(_, w)| *w).sum();
        if sum != Decimal::ONE {
            out.push(format!(
                "the weights must add up to 1 (scores stay between 0 and 1), not {sum}"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_usable_and_every_problem_is_named() {
        assert!(Settings::default().problems().is_empty());
        let mut bad = Settings::default();
        bad.policy.burst_max = 0;
        bad.policy.prior_mean = Decimal::new(55, 1);
        bad.policy.prior_weight = Decimal::ZERO;
        bad.weights.reviews = Decimal::new(-1, 1);
        let problems = bad.problems();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[2].contains("prior_weight"));
        assert!(problems[4].contains("add up to 1"), "{problems:?}");
    }
}
