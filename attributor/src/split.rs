//! Exact money arithmetic: rounding to the minor unit and largest-remainder splits.
//!
//! Invariant: a split of `total` minor units always sums to exactly `total`; no unit is lost
//! or invented, whatever the weights.

use rust_decimal::{Decimal, RoundingStrategy};

/// Rounds an amount of minor units to a whole unit, half to even (banker's rounding: no
/// systematic drift over many line items).
pub fn round_minor(amount: Decimal) -> i64 {
    let rounded = amount.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    i64::try_from(rounded).unwrap_or(if amount.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Splits `total` minor units in proportion to `weights` (each ≥ 0) by largest remainder:
/// everyone gets the floor of their exact portion, and the units left over go one each to the
/// largest fractional remainders, ties to the earlier weight. Sums to `total` exactly.
/// All-zero weights split equally. A negative total splits its absolute value and negates.
pub fn split(total: i64, weights: &[Decimal]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    if total < 0 {
        return split(-total, weights).into_iter().map(|v| -v).collect();
    }
    let sum: Decimal = weights.iter().sum();
    let equal = vec![Decimal::ONE; weights.len()];
    let (weights, sum) = if sum <= Decimal::ZERO {
        (&equal[..], Decimal::from(weights.len()))
    } else {
        (weights, sum)
    };
    let total_d = Decimal::from(total);
    let mut floors = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = total_d * *w / sum;
        let floor = exact.floor();
        floors.push(i64::try_from(floor).unwrap_or(0));
        remainders.push((exact - floor, i));
    }
    let mut left = total - floors.iter().sum::<i64>();
    // Largest remainder first; the stable sort keeps ties in weight order.
    remainders.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (_, i) in remainders.iter().cycle() {
        if left <= 0 {
            break;
        }
        floors[*i] += 1;
        left -= 1;
    }
    floors
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn thirds_give_the_odd_unit_to_the_first() {
        assert_eq!(split(100, &[d("1"), d("1"), d("1")]), vec![34, 33, 33]);
        assert_eq!(split(-100, &[d("1"), d("1"), d("1")]), vec![-34, -33, -33]);
    }

    #[test]
    fn largest_remainder_wins_the_unit() {
        // 0.4/0.2/0.4 of 999: 399.6, 199.8, 399.6 -> floors 399+199+399 = 997, two left:
        // 199.8 has the largest remainder, then the first 0.6.
        assert_eq!(
            split(999, &[d("0.4"), d("0.2"), d("0.4")]),
            vec![400, 200, 399]
        );
    }

    #[test]
    fn zero_weights_split_equally_and_empty_is_empty() {
        assert_eq!(split(5, &[Decimal::ZERO, Decimal::ZERO]), vec![3, 2]);
        assert!(split(5, &[]).is_empty());
    }

    #[test]
    fn rounding_is_half_to_even() {
        assert_eq!(round_minor(d("249.875")), 250);
        assert_eq!(round_minor(d("2.5")), 2);
        assert_eq!(round_minor(d("3.5")), 4);
        assert_eq!(round_minor(d("-2.5")), -2);
    }

    proptest! {
        #[test]
        fn a_split_always_sums_to_its_total(
            total in -10_000_000i64..10_000_000,
            weights in proptest::collection::vec(0u32..1_000_000, 1..12),
        ) {
            let weights: Vec<Decimal> = weights.into_iter().map(|w| Decimal::new(w.into(), 6)).collect();
            let parts = split(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            prop_assert_eq!(parts.len(), weights.len());
            // Nobody is more than one unit off their exact portion.
            let sum: Decimal = weights.iter().sum();
            if sum > Decimal::ZERO {
                for (p, w) in parts.iter().zip(&weights) {
                    let exact = Decimal::from(total) * *w / sum;
                    prop_assert!((Decimal::from(*p) - exact).abs() < Decimal::ONE);
                }
            }
        }
    }
}
