//! A program's trust settings (pure): its reference data's `trust` section (v6) turned into
//! the review policy and the ranking's weights. Settings that fail their own checks (which
//! `reference publish` refuses to publish) fall back to the documented defaults, named.

use chrono::Duration;
use schemas::reference::TrustSettings;

use crate::ranking::Weights;
use crate::reviews::Policy;

/// One program's settings, as the scorer uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Reviews: bursts, the Bayesian prior, the trend.
    pub policy: Policy,
    /// The ranking's weights.
    pub weights: Weights,
    /// Reviews are taken (the router refuses them otherwise).
    pub reviews_enabled: bool,
}

impl Default for Settings {
    /// The documented defaults ([`TrustSettings::default`]).
    fn default() -> Settings {
        Settings::from_reference(&TrustSettings::default())
    }
}

impl Settings {
    /// A program's settings: its `trust` section, or the defaults without one. `Err` names
    /// what is wrong with a section that cannot be used (the defaults apply instead).
    pub fn of_program(trust: Option<&TrustSettings>) -> Result<Settings, Vec<String>> {
        let Some(trust) = trust else {
            return Ok(Settings::default());
        };
        let problems = trust.problems();
        if problems.is_empty() {
            Ok(Settings::from_reference(trust))
        } else {
            Err(problems)
        }
    }

    fn from_reference(t: &TrustSettings) -> Settings {
        Settings {
            policy: Policy {
                burst_max: usize::try_from(t.review_burst_max).unwrap_or(1).max(1),
                burst_window: Duration::seconds(t.review_burst_window_seconds),
                prior_mean: t.review_prior_mean,
                prior_weight: t.review_prior_weight,
                trend_days: i64::from(t.review_trend_days),
            },
            weights: Weights {
                verification: t.weight_verification,
                quality: t.weight_quality,
                reviews: t.weight_reviews,
                risk: t.weight_risk,
                performance: t.weight_performance,
            },
            reviews_enabled: t.reviews_enabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn a_program_without_a_section_gets_the_documented_defaults() {
        let s = Settings::of_program(None).expect("defaults");
        assert_eq!(s.policy.burst_max, 3);
        assert_eq!(s.policy.burst_window, Duration::hours(24));
        assert_eq!(s.policy.prior_mean, Decimal::new(35, 1));
        assert_eq!(s.policy.prior_weight, Decimal::from(5));
        assert_eq!(s.policy.trend_days, 90);
        let w = s.weights;
        let weights = [w.verification, w.quality, w.reviews, w.risk, w.performance];
        assert_eq!(
            weights.map(|w| w.to_string()),
            ["0.15", "0.20", "0.30", "0.20", "0.15"]
        );
        assert!(s.reviews_enabled);
    }

    #[test]
    fn a_program_without_reviews_ranks_on_the_other_four() {
        let s = Settings::of_program(Some(&TrustSettings::without_reviews())).expect("usable");
        assert!(!s.reviews_enabled);
        assert_eq!(s.weights.reviews, Decimal::ZERO);
        assert_eq!(s.weights.quality, Decimal::new(30, 2));
    }

    #[test]
    fn every_problem_is_named_and_unusable_settings_are_refused() {
        let mut bad = TrustSettings {
            review_burst_max: 0,
            review_prior_mean: Decimal::new(55, 1),
            review_prior_weight: Decimal::ZERO,
            weight_reviews: Decimal::new(-1, 1),
            ..TrustSettings::default()
        };
        let problems = Settings::of_program(Some(&bad)).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("review_burst_max"));
        assert!(problems[2].contains("review_prior_weight"));
        assert!(problems[4].contains("add up to 1"), "{problems:?}");

        bad = TrustSettings {
            reviews_enabled: false,
            ..TrustSettings::default()
        };
        let problems = Settings::of_program(Some(&bad)).unwrap_err();
        assert_eq!(
            problems,
            vec!["reviews are not enabled, so weight `reviews` must be 0, not 0.30".to_string()]
        );
    }
}
