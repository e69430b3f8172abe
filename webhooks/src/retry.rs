//! When a failed delivery is tried again (pure): exponential backoff from `base`, capped at
//! `max_delay`, with "equal jitter" (half the delay fixed, half drawn) so endpoints that came
//! back are not hit by every delivery at once; nothing is tried past `horizon` after the
//! delivery was created, after which it is dead-lettered. The jitter is drawn from the delivery
//! id and the attempt number, so a restored delivery keeps the schedule it had.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// How long after its creation a delivery may still be tried.
    pub horizon: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`, after `attempt` (≥ 1) failed ones.
    pub fn delay(&self, delivery_id: &str, attempt: u32) -> Duration {
        let doubled = self.base.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(31))
                .unwrap_or(u32::MAX),
        );
        let delay = doubled.min(self.max_delay);
        let half = delay / 2;
        let digest = Sha256::digest(format!("{delivery_id}/{attempt}").as_bytes());
        let draw = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
        let fraction = (draw >> 11) as f64 / (1u64 << 53) as f64;
        half + half.mul_f64(fraction)
    }

    /// When attempt `attempt + 1` is due after `attempt` failed ones at `failed_at`, or `None`
    /// when that falls past the horizon of a delivery created at `created_at`.
    pub fn next_attempt(
        &self,
        delivery_id: &str,
        created_at: DateTime<Utc>,
        attempt: u32,
        failed_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let next = failed_at + chrono::Duration::from_std(self.delay(delivery_id, attempt)).ok()?;
        let last = created_at + chrono::Duration::from_std(self.horizon).ok()?;
        (next <= last).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            horizon: Duration::from_secs(3 * 86_400),
        }
    }

    #[test]
    fn delays_double_within_their_jitter_and_stop_at_the_cap() {
        let p = policy();
        for attempt in 1..=20u32 {
            let nominal = (5u64 << (attempt - 1).min(30)).min(3600);
            let d = p.delay("msg_a", attempt).as_secs_f64();
            assert!(
                d >= nominal as f64 / 2.0 && d <= nominal as f64,
                "attempt {attempt}: {d} of {nominal}"
            );
        }
        assert_eq!(
            p.delay("msg_a", 3),
            p.delay("msg_a", 3),
            "the same schedule after a restore"
        );
        assert_ne!(
            p.delay("msg_a", 3),
            p.delay("msg_b", 3),
            "deliveries spread out"
        );
    }

    #[test]
    fn nothing_is_tried_past_the_horizon() {
        let p = policy();
        let created = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let (mut at, mut attempt) = (created, 1u32);
        while let Some(next) = p.next_attempt("msg_c", created, attempt, at) {
            assert!(next > at && next <= created + chrono::Duration::days(3));
            at = next;
            attempt += 1;
        }
        // 5 s doubling to an hour, then 30 to 60 minutes apart: about a hundred in three days.
        assert!((90..=120).contains(&attempt), "{attempt} attempts");
        assert!(created + chrono::Duration::days(3) - at < chrono::Duration::hours(1));
    }
}
