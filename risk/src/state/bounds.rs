//! Bounds on state that untrusted input can grow (pure).
//!
//! A click's SharedId is the raw event's claim, so forged clicks with made-up SharedIds each
//! make a (partner, SharedId) subject. Over the cap, sub-source subjects that never had a
//! scored action — clicks only, nothing any Risk % or level depends on — are evicted, the one
//! last seen longest ago first, down to 90 %. Partner-level subjects and any subject with
//! actions are never evicted.

use super::*;

impl ScorerState {
    /// Clicks a subject (its changelog key) has counted over the days it keeps.
    pub fn subject_clicks(&self, key: &str) -> Option<i64> {
        self.subjects
            .get(key)
            .map(|e| e.value.days.iter().map(|d| d.clicks).sum())
    }

    /// Applies the subject cap; returns the subjects evicted.
    pub fn enforce_subject_cap(&mut self, max: usize) -> usize {
        let excess = runtime::stateful::over_cap(self.subjects.len(), max);
        if excess == 0 {
            return 0;
        }
        let candidates: Vec<(i32, &String)> = self
            .subjects
            .iter()
            .filter(|(_, e)| {
                e.value.shared_id.is_some()
                    && e.value.published_level.is_none()
                    && e.value.days.iter().all(|d| d.actions == 0)
            })
            .map(|(k, e)| {
                (
                    e.value.days.iter().map(|d| d.day).max().unwrap_or(i32::MIN),
                    k,
                )
            })
            .collect();
        let evicted = runtime::stateful::oldest_keys(candidates, excess);
        let n = evicted.len();
        for k in evicted {
            self.subjects.remove(&k);
            self.dirty.insert((Kind::Subject, k));
        }
        n
    }
}
