//! The day boundary: windows roll, old counts, contexts and waiting attributions expire.

use super::*;

impl ScorerState {
    /// A program's clock reached `day`: its windows roll, then its join buffer expires.
    pub(super) fn new_day(
        &mut self,
        offset: i64,
        program_id: &str,
        day: i32,
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) {
        self.roll_windows(offset, program_id, day, rules, effects);
        self.expire_join(offset, program_id, rules, settings, effects);
    }

    /// Drops the days that left the program's windows from subjects, fingerprints and
    /// scored actions (publishing the levels that change).
    fn roll_windows(
        &mut self,
        offset: i64,
        program_id: &str,
        day: i32,
        rules: &ProgramRules,
        effects: &mut Effects,
    ) {
        let keep = rules.keep_days();
        let window = rules.policy.window_days;
        let current = self.generation;
        let at = self.stream_time(program_id);
        for (k, e) in &mut self.subjects {
            if e.value.program_id != program_id
                || !Self::fresh_as_of(e.as_of, e.generation, offset, current)
            {
                continue;
            }
            e.as_of = offset;
            e.generation = current;
            e.value.days.retain(|d| d.day > day - keep);
            if let Some(level) = publish_if_changed(&mut e.value, day, at, &rules.policy) {
                effects.levels.push(level);
            }
            self.dirty.insert((Kind::Subject, k.clone()));
        }
        let mut gone = Vec::new();
        for (k, e) in &mut self.fingerprints {
            if e.value.program_id != program_id
                || !Self::fresh_as_of(e.as_of, e.generation, offset, current)
            {
                continue;
            }
            e.as_of = offset;
            e.generation = current;
            e.value.customers.retain(|c| c.day > day - window);
            if e.value.customers.is_empty() {
                gone.push(k.clone());
            }
            self.dirty.insert((Kind::Fingerprint, k.clone()));
        }
        for k in gone {
            self.fingerprints.remove(&k);
        }
        let old_actions: Vec<String> = self
            .actions
            .iter()
            .filter(|(_, e)| {
                e.value.program_id == program_id
                    && e.value.day <= day - keep
                    && Self::fresh_as_of(e.as_of, e.generation, offset, current)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in old_actions {
            self.actions.remove(&k);
            self.dirty_actions.insert(k);
        }
    }

    /// Expires the join buffer: contexts no attribution came for, and attributions that
    /// waited long enough for their context (scored without it).
    fn expire_join(
        &mut self,
        offset: i64,
        program_id: &str,
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) {
        let current = self.generation;
        // Each side of the join expires by the other side's clock: when one input lags (a
        // backfill reads one topic faster), its partner records must still be waiting.
        let (attribution_day, context_day) = self
            .programs
            .get(&key(Kind::Program, &[program_id]))
            .map_or((0, 0), |p| {
                (
                    day_of(p.value.attribution_time),
                    day_of(p.value.context_time),
                )
            });
        let wait = settings.join_wait_days;
        let prefix = key(Kind::Context, &[program_id, ""]);
        let old_contexts = expired(
            &self.contexts,
            &prefix,
            attribution_day - wait,
            offset,
            current,
        );
        for k in old_contexts {
            self.contexts.remove(&k);
            self.dirty.insert((Kind::Context, k));
        }
        let prefix = key(Kind::Waiting, &[program_id, ""]);
        let late = expired(&self.waiting, &prefix, context_day - wait, offset, current);
        for k in late {
            let Some(entry) = self.waiting.remove(&k) else {
                continue;
            };
            self.dirty.insert((Kind::Waiting, k));
            if let Ok(attribution) = decode_attribution(&entry.value.0) {
                effects.scored_without_context += 1;
                if self.replay_recorded(offset, &attribution, effects) > 0 {
                    self.score_attribution(offset, &attribution, None, rules, settings, effects);
                }
            }
        }
    }
}

/// Keys under `prefix` of a join buffer whose day is `last_day` or earlier and that `offset`
/// may still change (a re-read signal leaves keys ahead of it alone).
fn expired<V>(
    buffer: &HashMap<String, Entry<(V, i32)>>,
    prefix: &str,
    last_day: i32,
    offset: i64,
    current: u64,
) -> Vec<String> {
    buffer
        .iter()
        .filter(|(k, e)| {
            k.starts_with(prefix)
                && e.value.1 <= last_day
                && ScorerState::fresh_as_of(e.as_of, e.generation, offset, current)
        })
        .map(|(k, _)| k.clone())
        .collect()
}
