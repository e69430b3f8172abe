//! The changelog: which records each checkpoint phase writes, and the state they restore.

use super::*;

impl ScorerState {
    /// Changed scored-action records since the last call (written first at a checkpoint).
    pub fn take_action_changes(&mut self) -> Changes {
        let keys = std::mem::take(&mut self.dirty_actions);
        keys.into_iter()
            .map(|k| {
                let record = self.actions.get(&k).map(|e| RiskState {
                    action: Some(e.value.clone()),
                    ..empty_record(&k, e.as_of)
                });
                (format!("a\u{1f}{k}"), record)
            })
            .collect()
    }

    /// Every other changed key since the last call.
    pub fn take_changes(&mut self) -> Changes {
        let keys = std::mem::take(&mut self.dirty);
        keys.into_iter()
            .map(|(kind, k)| {
                let record = match kind {
                    Kind::Program => self.programs.get(&k).map(|e| RiskState {
                        program: Some(e.value.clone()),
                        ..empty_record(&k, e.as_of)
                    }),
                    Kind::Subject => self.subjects.get(&k).map(|e| RiskState {
                        subject: Some(e.value.clone()),
                        ..empty_record(&k, e.as_of)
                    }),
                    Kind::Fingerprint => self.fingerprints.get(&k).map(|e| RiskState {
                        fingerprint: Some(e.value.clone()),
                        ..empty_record(&k, e.as_of)
                    }),
                    Kind::Context => self.contexts.get(&k).map(|e| RiskState {
                        context: Some(e.value.0.clone()),
                        day: e.value.1,
                        ..empty_record(&k, e.as_of)
                    }),
                    Kind::Waiting => self.waiting.get(&k).map(|e| RiskState {
                        waiting: Some(e.value.0.clone()),
                        day: e.value.1,
                        ..empty_record(&k, e.as_of)
                    }),
                };
                (k, record)
            })
            .collect()
    }

    /// The position record, if it changed since the last call (written last).
    pub fn take_position(&mut self) -> Option<RiskState> {
        if !std::mem::take(&mut self.position_dirty) {
            return None;
        }
        Some(RiskState {
            positions: self
                .positions
                .iter()
                .map(|((topic, partition), offset)| SourcePosition {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                })
                .collect(),
            ..empty_record(POSITION_KEY, self.position_offset)
        })
    }

    /// State from a partition's latest changelog records.
    pub fn restore(records: impl IntoIterator<Item = RiskState>) -> ScorerState {
        let mut s = ScorerState::new();
        for r in records {
            let as_of = r.as_of_offset;
            if r.key == POSITION_KEY {
                s.position_offset = r.as_of_offset;
                for p in r.positions {
                    s.positions.insert((p.topic, p.partition), p.offset);
                }
            } else if let Some(v) = r.program {
                s.programs.insert(r.key, Entry::restored(as_of, v));
            } else if let Some(v) = r.subject {
                s.subjects.insert(r.key, Entry::restored(as_of, v));
            } else if let Some(v) = r.fingerprint {
                s.fingerprints.insert(r.key, Entry::restored(as_of, v));
            } else if let Some(v) = r.action {
                s.actions
                    .insert(v.action_id.clone(), Entry::restored(as_of, v));
            } else if let Some(v) = r.context {
                s.contexts.insert(r.key, Entry::restored(as_of, (v, r.day)));
            } else if let Some(v) = r.waiting {
                s.waiting.insert(r.key, Entry::restored(as_of, (v, r.day)));
            }
        }
        s
    }

    /// Scored actions remembered.
    pub fn actions(&self) -> usize {
        self.actions.len()
    }

    /// Partner and SharedId subjects.
    pub fn subjects(&self) -> usize {
        self.subjects.len()
    }

    /// Fingerprints tracked.
    pub fn fingerprints(&self) -> usize {
        self.fingerprints.len()
    }

    /// Join buffer: contexts and waiting attributions.
    pub fn joining(&self) -> usize {
        self.contexts.len() + self.waiting.len()
    }

    /// Live data estimate in bytes: sizes of the structures and their strings.
    pub fn approx_bytes(&self) -> usize {
        const MAP: usize = 48; // key String + hash-table slot overhead
        let day = std::mem::size_of::<DayCounts>();
        let subjects: usize = self
            .subjects
            .iter()
            .map(|(k, e)| {
                MAP + k.len()
                    + std::mem::size_of::<Entry<SubjectState>>()
                    + e.value.days.len() * day
                    + e.value
                        .self_fingerprints
                        .iter()
                        .map(|f| 24 + f.len())
                        .sum::<usize>()
                    + e.value.partner_id.len()
                    + e.value.program_id.len()
            })
            .sum();
        let actions: usize = self
            .actions
            .iter()
            .map(|(k, e)| {
                MAP + k.len()
                    + std::mem::size_of::<Entry<ScoredAction>>()
                    + e.value.action_id.len()
                    + e.value.program_id.len()
                    + e.value.partner_id.len()
                    + e.value.customer.len()
                    + e.value.fingerprint.as_ref().map_or(0, String::len)
                    + e.value.shared_id.as_ref().map_or(0, String::len)
            })
            .sum();
        let fingerprints: usize = self
            .fingerprints
            .iter()
            .map(|(k, e)| {
                MAP + k.len()
                    + std::mem::size_of::<Entry<FingerprintState>>()
                    + e.value
                        .customers
                        .iter()
                        .map(|c| 32 + c.customer.len())
                        .sum::<usize>()
            })
            .sum();
        let joining: usize = self
            .contexts
            .iter()
            .map(|(k, e)| {
                MAP + k.len()
                    + std::mem::size_of::<Entry<(ConversionContext, i32)>>()
                    + 160
                    + e.value.0.event_id.len()
            })
            .chain(
                self.waiting
                    .iter()
                    .map(|(k, e)| MAP + k.len() + 64 + e.value.0.len()),
            )
            .sum();
        subjects + actions + fingerprints + joining
    }
}

/// How the stateful harness keeps a signals partition: scored actions first, every other key
/// next (subjects and fingerprints count actions already on the topic), the position last.
impl runtime::stateful::PartitionState for ScorerState {
    type Record = RiskState;
    const PHASES: usize = 2;
    const ENTRY_KINDS: &'static [&'static str] =
        &["actions", "subjects", "fingerprints", "joining"];

    fn take_changes(&mut self, phase: usize) -> Changes {
        match phase {
            0 => self.take_action_changes(),
            _ => ScorerState::take_changes(self),
        }
    }

    fn take_position(&mut self) -> Option<RiskState> {
        ScorerState::take_position(self)
    }

    fn refresh(&mut self) {
        fn tagged<V>(kind: Kind, map: &HashMap<String, V>) -> Vec<(Kind, String)> {
            map.keys().map(|k| (kind, k.clone())).collect()
        }
        let mut all = tagged(Kind::Program, &self.programs);
        all.extend(tagged(Kind::Subject, &self.subjects));
        all.extend(tagged(Kind::Fingerprint, &self.fingerprints));
        all.extend(tagged(Kind::Context, &self.contexts));
        all.extend(tagged(Kind::Waiting, &self.waiting));
        self.dirty.extend(all);
        self.dirty_actions.extend(self.actions.keys().cloned());
        self.position_dirty = true;
    }

    fn entries(&self) -> Vec<usize> {
        vec![
            self.actions(),
            self.subjects(),
            self.fingerprints(),
            self.joining(),
        ]
    }

    fn approx_bytes(&self) -> usize {
        ScorerState::approx_bytes(self)
    }
}

pub(super) fn empty_record(key: &str, as_of: i64) -> RiskState {
    RiskState {
        key: key.into(),
        as_of_offset: as_of,
        program: None,
        subject: None,
        fingerprint: None,
        action: None,
        context: None,
        day: 0,
        waiting: None,
        positions: Vec::new(),
    }
}
