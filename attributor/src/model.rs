//! Attribution models: how one conversion's credit is shared among its qualifying touchpoints.
//!
//! Invariant: shares are exact decimals with [`SHARE_SCALE`] places that sum to exactly 1,
//! computed without floating point, so every instance and every replay gives the same split.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use schemas::attribution::AttributionModel;

use crate::split::split;

/// Decimal places of a share (a millionth).
pub const SHARE_SCALE: u32 = 6;
const SHARE_UNITS: i64 = 1_000_000;

/// Every model, in the order shadow credits list them.
pub const ALL_MODELS: [AttributionModel; 5] = [
    AttributionModel::LastTouch,
    AttributionModel::FirstTouch,
    AttributionModel::Linear,
    AttributionModel::TimeDecay,
    AttributionModel::PositionBased,
];

/// ln 2 to 28 significant digits.
const LN_2: Decimal = Decimal::from_parts(2_860_148_159, 2_180_329_217, 375_755_839, false, 28);

/// The share of each touchpoint, given their times in ascending order. Empty in, empty out.
///
/// - last touch: all to the last; first touch: all to the first; linear: equal;
/// - time decay: weight 2^(−age / half-life), age measured back from the conversion;
/// - position based: 40% first, 40% last, 20% spread evenly over the middle (two touchpoints
///   get 50% each, one gets everything).
pub fn shares(
    model: AttributionModel,
    times: &[DateTime<Utc>],
    conversion_at: DateTime<Utc>,
    half_life_seconds: i64,
) -> Vec<Decimal> {
    let n = times.len();
    if n == 0 {
        return Vec::new();
    }
    let one_hot = |at: usize| -> Vec<Decimal> {
        (0..n)
            .map(|i| if i == at { Decimal::ONE } else { Decimal::ZERO })
            .collect()
    };
    let weights = match model {
        AttributionModel::LastTouch => one_hot(n - 1),
        AttributionModel::FirstTouch => one_hot(0),
        AttributionModel::Linear => vec![Decimal::ONE; n],
        AttributionModel::TimeDecay => times
            .iter()
            .map(|t| {
                let age = (conversion_at - *t).num_milliseconds().max(0);
                let half_life_ms = half_life_seconds.max(1).saturating_mul(1000);
                half_power(Decimal::from(age) / Decimal::from(half_life_ms))
            })
            .collect(),
        AttributionModel::PositionBased => match n {
            1 => vec![Decimal::ONE],
            2 => vec![Decimal::new(5, 1); 2],
            _ => {
                let middle = Decimal::new(2, 1) / Decimal::from(n - 2);
                (0..n)
                    .map(|i| {
                        if i == 0 || i == n - 1 {
                            Decimal::new(4, 1)
                        } else {
                            middle
                        }
                    })
                    .collect()
            }
        },
    };
    split(SHARE_UNITS, &weights)
        .into_iter()
        .map(|units| Decimal::new(units, SHARE_SCALE))
        .collect()
}

/// 2^(−x) for x ≥ 0, in decimal arithmetic: 2^(−n) for the whole part and a Taylor series of
/// e^(−f·ln 2) for the fraction. Beyond 64 half-lives the weight is 0.
fn half_power(x: Decimal) -> Decimal {
    let whole = x.floor();
    if whole >= Decimal::from(64) {
        return Decimal::ZERO;
    }
    let y = -(x - whole) * LN_2;
    let mut term = Decimal::ONE;
    let mut sum = Decimal::ONE;
    for k in 1..=24u32 {
        term = term * y / Decimal::from(k);
        sum += term;
    }
    let mut value = sum;
    for _ in 0..i64::try_from(whole).unwrap_or(64) {
        value /= Decimal::TWO;
    }
    value.round_dp(20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + hours * 3600, 0)
            .single()
            .expect("valid")
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn shares_of(model: AttributionModel, hours: &[i64], half_life_hours: i64) -> Vec<Decimal> {
        let times: Vec<_> = hours.iter().map(|h| t(*h)).collect();
        shares(model, &times, t(100), half_life_hours * 3600)
    }

    #[test]
    fn last_and_first_touch_take_everything() {
        assert_eq!(
            shares_of(AttributionModel::LastTouch, &[1, 2, 3], 1),
            vec![d("0"), d("0"), d("1")]
        );
        assert_eq!(
            shares_of(AttributionModel::FirstTouch, &[1, 2, 3], 1),
            vec![d("1"), d("0"), d("0")]
        );
    }

    #[test]
    fn linear_thirds_sum_to_one_exactly() {
        let s = shares_of(AttributionModel::Linear, &[1, 2, 3], 1);
        assert_eq!(s, vec![d("0.333334"), d("0.333333"), d("0.333333")]);
        assert_eq!(s.iter().sum::<Decimal>(), Decimal::ONE);
    }

    #[test]
    fn position_based_is_40_20_40() {
        assert_eq!(
            shares_of(AttributionModel::PositionBased, &[1, 2, 3, 4], 1),
            vec![d("0.4"), d("0.1"), d("0.1"), d("0.4")]
        );
        assert_eq!(
            shares_of(AttributionModel::PositionBased, &[1, 2], 1),
            vec![d("0.5"), d("0.5")]
        );
        assert_eq!(
            shares_of(AttributionModel::PositionBased, &[1], 1),
            vec![d("1")]
        );
    }

    #[test]
    fn time_decay_halves_weight_per_half_life() {
        // Ages 2 h and 0 h with a 2 h half-life: weights 0.5 and 1 -> 1/3 and 2/3.
        assert_eq!(
            shares_of(AttributionModel::TimeDecay, &[98, 100], 2),
            vec![d("0.333333"), d("0.666667")]
        );
        // Ages 3 h and 1 h with a 2 h half-life: same ratio, fractional exponents.
        assert_eq!(
            shares_of(AttributionModel::TimeDecay, &[97, 99], 2),
            vec![d("0.333333"), d("0.666667")]
        );
        assert_eq!(half_power(Decimal::ONE), d("0.5"));
        assert_eq!(half_power(d("0.5")).round_dp(12), d("0.707106781187"));
        assert_eq!(half_power(Decimal::from(70)), Decimal::ZERO);
    }

    #[test]
    fn every_model_sums_to_one() {
        for model in ALL_MODELS {
            for n in 1..9 {
                let hours: Vec<i64> = (0..n).map(|i| 90 + i * 7 / 3).collect();
                let s = shares_of(model, &hours, 5);
                assert_eq!(s.iter().sum::<Decimal>(), Decimal::ONE, "{model:?} n={n}");
            }
        }
    }
}
