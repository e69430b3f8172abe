//! The scorer's state of one signals partition: every specialist routed there, kept on the
//! trust changelog as one record per specialist (a versioned JSON document) plus the
//! partition's position. One phase: a specialist's record is whole, so no record refers to
//! another.

use std::collections::{BTreeSet, HashMap};

use runtime::stateful::{Change, PartitionState};
use schemas::trust::{TrustState, TrustStateEntry};
use serde::{Deserialize, Serialize};

use crate::specialist::SpecialistState;

/// The document's version: a reader refuses a newer one rather than misread it.
const DOCUMENT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Document {
    v: u32,
    state: SpecialistState,
}

/// One partition's specialists.
#[derive(Debug, Default)]
pub struct TrustPartition {
    /// By specialist id.
    pub specialists: HashMap<String, SpecialistState>,
    changed: BTreeSet<String>,
    as_of_offset: i64,
    position_changed: bool,
}

impl TrustPartition {
    /// An empty partition.
    pub fn new() -> TrustPartition {
        TrustPartition {
            as_of_offset: -1,
            ..TrustPartition::default()
        }
    }

    /// Rebuilds a partition from its latest changelog records; a record that cannot be read
    /// is skipped with an error logged (the specialist starts again from their next signals).
    pub fn restore(records: impl IntoIterator<Item = TrustState>) -> TrustPartition {
        let mut p = TrustPartition::new();
        for r in records {
            match r.entry {
                TrustStateEntry::Position => p.as_of_offset = r.as_of_offset,
                TrustStateEntry::Specialist => {
                    match serde_json::from_str::<Document>(&r.document) {
                        Ok(d) if d.v <= DOCUMENT_VERSION => {
                            p.specialists.insert(d.state.specialist_id.clone(), d.state);
                        }
                        Ok(d) => tracing::error!(
                            specialist = %r.specialist_id,
                            version = d.v,
                            "A trust state document is newer than this scorer; skipped."
                        ),
                        Err(e) => tracing::error!(
                            specialist = %r.specialist_id,
                            error = %e,
                            "A trust state document cannot be read; skipped."
                        ),
                    }
                }
            }
        }
        p
    }

    /// True when the signal at `offset` is reflected already (a replay after a crash).
    pub fn applied(&self, offset: i64) -> bool {
        offset <= self.as_of_offset
    }

    /// Records that the signal at `offset` was applied.
    pub fn advance(&mut self, offset: i64) {
        self.as_of_offset = offset;
        self.position_changed = true;
    }

    /// The specialist, created on first sight.
    pub fn specialist(&mut self, id: &str) -> &mut SpecialistState {
        self.specialists
            .entry(id.to_string())
            .or_insert_with(|| SpecialistState::new(id))
    }

    /// Marks a specialist changed: the next checkpoint writes them.
    pub fn touch(&mut self, id: &str) {
        self.changed.insert(id.to_string());
    }
}

fn record(entry: TrustStateEntry) -> TrustState {
    TrustState {
        entry,
        specialist_id: String::new(),
        document: String::new(),
        as_of_offset: -1,
    }
}

impl PartitionState for TrustPartition {
    type Record = TrustState;
    const PHASES: usize = 1;
    const ENTRY_KINDS: &'static [&'static str] = &["specialists"];

    fn take_changes(&mut self, _phase: usize) -> Vec<Change<TrustState>> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|id| {
                let value = self.specialists.get(&id).and_then(|s| {
                    let document = serde_json::to_string(&Document {
                        v: DOCUMENT_VERSION,
                        state: s.clone(),
                    })
                    .ok()?;
                    Some(TrustState {
                        specialist_id: id.clone(),
                        document,
                        ..record(TrustStateEntry::Specialist)
                    })
                });
                (format!("specialist/{id}"), value)
            })
            .collect()
    }

    fn take_position(&mut self) -> Option<TrustState> {
        std::mem::take(&mut self.position_changed).then(|| TrustState {
            as_of_offset: self.as_of_offset,
            ..record(TrustStateEntry::Position)
        })
    }

    // Profiles and reviews are personal: the changelog has time retention, so the whole
    // state is rewritten now and then.
    fn refresh(&mut self) {
        self.changed.extend(self.specialists.keys().cloned());
        self.position_changed = true;
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.specialists.len()]
    }

    fn approx_bytes(&self) -> usize {
        self.specialists
            .values()
            .map(|s| {
                256 + s
                    .programs
                    .values()
                    .map(|p| 128 * (p.reviews.len() + p.orders.len() + p.clicks.len()))
                    .sum::<usize>()
                    + 128 * s.verification.history.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specialist::Signal;

    #[test]
    fn a_changed_specialist_round_trips_through_the_changelog() {
        let mut p = TrustPartition::new();
        p.specialist("p-lena").apply(Signal::Click {
            program_id: "sandals-eu".into(),
            touchpoint_id: "t1".into(),
        });
        p.touch("p-lena");
        p.advance(7);
        let changes = p.take_changes(0);
        assert_eq!(changes.len(), 1);
        assert!(p.take_changes(0).is_empty(), "taken once");
        let mut records: Vec<TrustState> = changes.into_iter().filter_map(|(_, r)| r).collect();
        records.extend(p.take_position());
        let back = TrustPartition::restore(records);
        assert_eq!(back.specialists, p.specialists);
        assert!(back.applied(7) && !back.applied(8));
    }

    #[test]
    fn an_unreadable_or_newer_document_is_skipped() {
        let bad = TrustState {
            specialist_id: "p-x".into(),
            document: "{".into(),
            ..record(TrustStateEntry::Specialist)
        };
        let newer = TrustState {
            specialist_id: "p-y".into(),
            document: r#"{"v": 99, "state": {}}"#.into(),
            ..record(TrustStateEntry::Specialist)
        };
        assert!(TrustPartition::restore(vec![bad, newer])
            .specialists
            .is_empty());
    }
}
