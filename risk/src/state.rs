//! The scorer's state for one signals partition, and how each signal changes it. Pure: no
//! Kafka, no clocks; event time only, so a replay of the same signals gives the same outputs.
//!
//! What is kept, each under its own changelog key:
//! - per program: the event-time clock and daily click/action totals;
//! - per subject (partner, and partner + SharedId): daily counts, the devices of the
//!   partner's self-referrals, and the level last published;
//! - per device/IP fingerprint: the distinct customers converting from it;
//! - per scored action: its recorded outcome (so it is never scored twice);
//! - the join buffer: conversion contexts waiting for their attribution, and attributions
//!   waiting for their context.
//!
//! **Crash safety.** Every key records `as_of`, the last signals offset applied to it, and a
//! re-read signal changes only keys below its offset. One signal changes several keys, so the
//! checkpoint writes scored actions first, then the other keys, then the position: any key
//! found ahead of a re-read signal implies the actions of its batch were recorded, and a
//! recorded action is never scored again — its recorded outcome is re-applied to the keys that
//! missed it instead. The restored state after any crash therefore converges on the state of a
//! clean run, and no action is scored twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use reference::Catalog;
use schemas::attribution::{Attribution, AttributionKind, Credit};
use schemas::commission::{CommissionDecision, CommissionKind, Decision};
use schemas::reference::RiskPolicy;
use schemas::risk::{RiskLevel, RiskLevelName, RiskScore, ScoredActionKind};
use schemas::risk_signal::{ConversionContext, RiskSignal};
use schemas::risk_state::{
    DayCounts, FingerprintCustomer, FingerprintState, ProgramTotals, RiskState, ScoredAction,
    SourcePosition, SubjectState,
};
use sha2::{Digest, Sha256};

use crate::level::{level, level_name, risk_percent};
use crate::policy::{decide, default_policy};
use crate::rules::{self, ActionFacts, Lists, SelfReferral, Thresholds, WindowCounts};

use runtime::stateful::POSITION_KEY;
/// Distinct customers kept per fingerprint (the count is "at least" beyond it).
const FINGERPRINT_CUSTOMERS_KEPT: usize = 64;
/// Self-referral devices kept per partner.
const SELF_FINGERPRINTS_KEPT: usize = 16;
/// The reason a self-referral claim carries in an attribution's losing claims.
const SELF_REFERRAL_CLAIM: &str = "self_referral";

/// Changelog records to write: key and record (`None`: a tombstone).
pub type Changes = Vec<runtime::stateful::Change<RiskState>>;

/// Settings of the scorer that are not per program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScorerSettings {
    /// Bot, coupon and data-centre lists.
    pub lists: Lists,
    /// Event-time days an attribution waits for its conversion's context (and a context for
    /// its attribution) before it is scored without.
    pub join_wait_days: i32,
}

/// What applying signals produced.
#[derive(Debug, Default)]
pub struct Effects {
    /// One per newly scored action (internal).
    pub scores: Vec<RiskScore>,
    /// Commission decisions for the ledger.
    pub decisions: Vec<CommissionDecision>,
    /// Level changes (partner-safe).
    pub levels: Vec<RiskLevel>,
    /// Signals already applied: a re-forwarded copy from the router.
    pub duplicate_signals: u64,
    /// Attributions whose actions were all scored before (an attributor replay).
    pub duplicate_attributions: u64,
    /// Recorded outcomes re-applied to keys a crash left behind.
    pub replayed: u64,
    /// Attributions that had to wait for their conversion's context.
    pub waited: u64,
    /// Attributions scored without context after the join wait.
    pub scored_without_context: u64,
    /// Renewals passed through unscored.
    pub renewals: u64,
    /// Refund reversals passed through.
    pub refunds: u64,
}

/// A signal the scorer cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Dead-letter reason.
    pub reason: &'static str,
    /// Detail.
    pub detail: String,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    as_of: i64,
    /// Which application last changed it (0: restored).
    generation: u64,
    value: T,
}

impl<T> Entry<T> {
    fn restored(as_of: i64, value: T) -> Entry<T> {
        Entry {
            as_of,
            generation: 0,
            value,
        }
    }

    fn new(value: T) -> Entry<T> {
        Entry {
            as_of: -1,
            generation: 0,
            value,
        }
    }
}

/// One signals partition's state.
#[derive(Debug, Default)]
pub struct ScorerState {
    programs: HashMap<String, Entry<ProgramTotals>>,
    subjects: HashMap<String, Entry<SubjectState>>,
    fingerprints: HashMap<String, Entry<FingerprintState>>,
    actions: HashMap<String, Entry<ScoredAction>>,
    contexts: HashMap<String, Entry<(ConversionContext, i32)>>,
    waiting: HashMap<String, Entry<(Vec<u8>, i32)>>,
    positions: BTreeMap<(String, i32), i64>,
    position_offset: i64,
    position_dirty: bool,
    dirty_actions: BTreeSet<String>,
    dirty: BTreeSet<String>,
    generation: u64,
}

fn key(kind: char, parts: &[&str]) -> String {
    // Unit separator: ids may contain '/', never control characters.
    let mut k = String::from(kind);
    for p in parts {
        k.push('\u{1f}');
        k.push_str(p);
    }
    k
}

fn subject_key(program: &str, partner: &str, shared: Option<&str>) -> String {
    match shared {
        Some(s) => key('s', &[program, partner, s]),
        None => key('s', &[program, partner]),
    }
}

/// Days since 1970-01-01 (UTC).
pub fn day_of(at: DateTime<Utc>) -> i32 {
    i32::try_from(at.timestamp().div_euclid(86_400)).unwrap_or(i32::MAX)
}

fn bucket(days: &mut Vec<DayCounts>, day: i32) -> &mut DayCounts {
    let i = match days.binary_search_by_key(&day, |d| d.day) {
        Ok(i) => i,
        Err(i) => {
            days.insert(
                i,
                DayCounts {
                    day,
                    ..DayCounts::default()
                },
            );
            i
        }
    };
    &mut days[i]
}

/// Sums of the days in `first..=last`.
fn sum(days: &[DayCounts], first: i32, last: i32) -> DayCounts {
    let mut total = DayCounts::default();
    for d in days.iter().filter(|d| d.day >= first && d.day <= last) {
        total.clicks += d.clicks;
        total.actions += d.actions;
        total.flagged += d.flagged;
        total.code_only += d.code_only;
        total.link += d.link;
    }
    total
}

fn counts(d: &DayCounts) -> WindowCounts {
    WindowCounts {
        clicks: d.clicks,
        actions: d.actions,
        code_only: d.code_only,
        link: d.link,
    }
}

/// The device/IP fingerprint of a conversion: hashed IP and user agent.
pub fn fingerprint(context: &ConversionContext) -> Option<String> {
    let ip = context.ip_hash.as_deref()?;
    let mut h = Sha256::new();
    h.update(ip.as_bytes());
    h.update([0]);
    h.update(context.user_agent.as_deref().unwrap_or("").as_bytes());
    Some(
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The program's policy, thresholds and hold period (defaults for an unknown program).
struct ProgramRules {
    policy: RiskPolicy,
    thresholds: Thresholds,
    hold_seconds: i64,
}

impl ProgramRules {
    fn of(catalog: &Catalog, program_id: &str) -> ProgramRules {
        let program = catalog.program(program_id);
        let policy = program
            .and_then(|p| p.risk_policy.clone())
            .unwrap_or_else(default_policy);
        ProgramRules {
            thresholds: Thresholds::with_overrides(&policy.thresholds),
            hold_seconds: program.map_or(0, |p| p.hold_seconds),
            policy,
        }
    }

    /// Days of counts kept: the window, and the velocity baseline before the current day.
    fn keep_days(&self) -> i32 {
        self.policy
            .window_days
            .max(self.thresholds.baseline_days() + 1)
    }
}

/// One action to score: a credit, or an excluded self-referral claim.
struct ActionRef<'a> {
    id: String,
    partner_id: &'a str,
    credit: Option<&'a Credit>,
}

impl ScorerState {
    /// Empty state.
    pub fn new() -> ScorerState {
        ScorerState::default()
    }

    /// Whether an entry may be changed by the signal at `offset`: it has not seen that offset,
    /// or it was changed by this very application.
    fn fresh_as_of(as_of: i64, generation: u64, offset: i64, current: u64) -> bool {
        as_of < offset || (as_of == offset && generation == current)
    }

    /// Applies the signal read at `offset`.
    pub fn apply(
        &mut self,
        offset: i64,
        signal: &RiskSignal,
        catalog: &Catalog,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) -> Result<(), Rejection> {
        self.generation += 1;
        let source = (signal.source_topic.clone(), signal.source_partition);
        if self
            .positions
            .get(&source)
            .is_some_and(|seen| *seen >= signal.source_offset)
        {
            effects.duplicate_signals += 1;
            return Ok(());
        }
        self.positions.insert(source, signal.source_offset);
        self.position_offset = offset;
        self.position_dirty = true;

        let program_id = signal.program_id.as_str();
        let rules = ProgramRules::of(catalog, program_id);
        self.advance_clock(
            offset,
            program_id,
            signal.occurred_at,
            &rules,
            settings,
            effects,
        );

        if let Some(click) = &signal.click {
            let day = day_of(signal.occurred_at);
            if let Some(p) = self.program_mut(offset, program_id) {
                bucket(&mut p.days, day).clicks += 1;
            }
            let mut subjects = vec![None];
            if click.shared_id.is_some() {
                subjects.push(click.shared_id.as_deref());
            }
            for shared in subjects {
                let k = subject_key(program_id, &click.partner_id, shared);
                if let Some(s) = self.subject_mut(offset, &k, program_id, &click.partner_id, shared)
                {
                    bucket(&mut s.days, day).clicks += 1;
                }
            }
            return Ok(());
        }
        if let Some(context) = &signal.conversion {
            let wait_key = key('w', &[program_id, &context.event_id]);
            let waiting = match self.waiting.get(&wait_key) {
                Some(e) if self.fresh(e.as_of, e.generation, offset) => {
                    self.dirty.insert(wait_key.clone());
                    self.waiting.remove(&wait_key)
                }
                _ => None,
            };
            if let Some(entry) = waiting {
                let attribution = decode_attribution(&entry.value.0)?;
                if self.replay_recorded(offset, &attribution, effects) > 0 {
                    self.score_attribution(
                        offset,
                        &attribution,
                        Some(context),
                        &rules,
                        settings,
                        effects,
                    );
                }
                return Ok(());
            }
            let ctx_key = key('c', &[program_id, &context.event_id]);
            let current = self.generation;
            let entry = self
                .contexts
                .entry(ctx_key.clone())
                .or_insert_with(|| Entry::new((context.clone(), 0)));
            if Self::fresh_as_of(entry.as_of, entry.generation, offset, current) {
                entry.value = (context.clone(), day_of(signal.occurred_at));
                entry.as_of = offset;
                entry.generation = current;
                self.dirty.insert(ctx_key);
            }
            return Ok(());
        }
        let Some(bytes) = &signal.attribution else {
            return Err(Rejection {
                reason: "empty_signal",
                detail: "a risk signal with neither click, conversion nor attribution".into(),
            });
        };
        let attribution = decode_attribution(bytes)?;
        match attribution.kind {
            AttributionKind::Refund => {
                effects.refunds += 1;
                pass_through(&attribution, &rules, CommissionKind::Reversal, effects);
                return Ok(());
            }
            AttributionKind::Conversion if attribution.chain_seq.is_some_and(|s| s > 1) => {
                // Only a chain's first action is scored; a renewal inherits nothing from it.
                effects.renewals += 1;
                pass_through(&attribution, &rules, CommissionKind::Commission, effects);
                return Ok(());
            }
            AttributionKind::Conversion => {}
        }
        let pending = self.replay_recorded(offset, &attribution, effects);
        if pending == 0 {
            return Ok(());
        }
        let ctx_key = key('c', &[program_id, &attribution.event_id]);
        let context = match self.contexts.get(&ctx_key) {
            Some(e) if self.fresh(e.as_of, e.generation, offset) => {
                self.dirty.insert(ctx_key.clone());
                self.contexts.remove(&ctx_key).map(|e| e.value.0)
            }
            _ => None,
        };
        match context {
            Some(context) => self.score_attribution(
                offset,
                &attribution,
                Some(&context),
                &rules,
                settings,
                effects,
            ),
            None => {
                effects.waited += 1;
                let wait_key = key('w', &[program_id, &attribution.event_id]);
                let current = self.generation;
                let entry = self
                    .waiting
                    .entry(wait_key.clone())
                    .or_insert_with(|| Entry::new((Vec::new(), 0)));
                if Self::fresh_as_of(entry.as_of, entry.generation, offset, current) {
                    entry.value = (bytes.clone(), day_of(attribution.occurred_at));
                    entry.as_of = offset;
                    entry.generation = current;
                    self.dirty.insert(wait_key);
                }
            }
        }
        Ok(())
    }

    fn fresh(&self, as_of: i64, generation: u64, offset: i64) -> bool {
        Self::fresh_as_of(as_of, generation, offset, self.generation)
    }

    fn actions_of<'a>(attribution: &'a Attribution) -> Vec<ActionRef<'a>> {
        let mut out: Vec<ActionRef<'a>> = attribution
            .credits
            .iter()
            .map(|c| ActionRef {
                id: c.commission_id.clone(),
                partner_id: &c.partner_id,
                credit: Some(c),
            })
            .collect();
        let mut claimed = BTreeSet::new();
        for claim in &attribution.losing_claims {
            if claim.reason == SELF_REFERRAL_CLAIM && claimed.insert(claim.partner_id.as_str()) {
                out.push(ActionRef {
                    id: schemas::ids::commission_id(&attribution.attribution_id, &claim.partner_id),
                    partner_id: &claim.partner_id,
                    credit: None,
                });
            }
        }
        out
    }

    /// Re-applies actions recorded at this very offset (a re-read after a crash); counts
    /// actions recorded earlier as duplicates. Returns how many actions are still unscored.
    fn replay_recorded(
        &mut self,
        offset: i64,
        attribution: &Attribution,
        effects: &mut Effects,
    ) -> usize {
        let actions = Self::actions_of(attribution);
        let mut pending = 0;
        let mut duplicate = false;
        for action in &actions {
            match self.actions.get(&action.id) {
                None => pending += 1,
                // Recorded later in the signals than this input: a re-read whose action was
                // scored when its context arrived; that signal re-applies it.
                Some(e) if e.as_of > offset => {}
                Some(e) if e.as_of == offset && e.generation == 0 => {
                    let recorded = e.value.clone();
                    effects.replayed += 1;
                    self.record_counts(offset, &recorded, true);
                    self.remove_join(offset, &attribution.program_id, &attribution.event_id);
                }
                Some(_) => duplicate = true,
            }
        }
        if duplicate && pending == 0 {
            effects.duplicate_attributions += 1;
        }
        pending
    }

    fn remove_join(&mut self, offset: i64, program_id: &str, event_id: &str) {
        let ctx_key = key('c', &[program_id, event_id]);
        if let Some(e) = self.contexts.get(&ctx_key) {
            if self.fresh(e.as_of, e.generation, offset) {
                self.contexts.remove(&ctx_key);
                self.dirty.insert(ctx_key);
            }
        }
        let wait_key = key('w', &[program_id, event_id]);
        if let Some(e) = self.waiting.get(&wait_key) {
            if self.fresh(e.as_of, e.generation, offset) {
                self.waiting.remove(&wait_key);
                self.dirty.insert(wait_key);
            }
        }
    }

    fn program_mut(&mut self, offset: i64, program_id: &str) -> Option<&mut ProgramTotals> {
        let k = key('p', &[program_id]);
        let current = self.generation;
        let e = self.programs.entry(k.clone()).or_insert_with(|| {
            Entry::new(ProgramTotals {
                program_id: program_id.into(),
                stream_time: DateTime::<Utc>::UNIX_EPOCH,
                attribution_time: DateTime::<Utc>::UNIX_EPOCH,
                context_time: DateTime::<Utc>::UNIX_EPOCH,
                days: Vec::new(),
            })
        });
        if !Self::fresh_as_of(e.as_of, e.generation, offset, current) {
            return None;
        }
        e.as_of = offset;
        e.generation = current;
        self.dirty.insert(k);
        Some(&mut e.value)
    }

    fn subject_mut(
        &mut self,
        offset: i64,
        k: &str,
        program_id: &str,
        partner_id: &str,
        shared_id: Option<&str>,
    ) -> Option<&mut SubjectState> {
        let current = self.generation;
        let e = self.subjects.entry(k.to_string()).or_insert_with(|| {
            Entry::new(SubjectState {
                program_id: program_id.into(),
                partner_id: partner_id.into(),
                shared_id: shared_id.map(String::from),
                days: Vec::new(),
                self_fingerprints: Vec::new(),
                published_level: None,
                published_scored: 0,
                published_flagged: 0,
                evaluated_day: 0,
            })
        });
        if !Self::fresh_as_of(e.as_of, e.generation, offset, current) {
            return None;
        }
        e.as_of = offset;
        e.generation = current;
        self.dirty.insert(k.to_string());
        Some(&mut e.value)
    }

    fn stream_time(&self, program_id: &str) -> DateTime<Utc> {
        self.programs
            .get(&key('p', &[program_id]))
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |e| e.value.stream_time)
    }

    /// Moves the program's event-time clock; on a new day, expires what fell out of the
    /// windows and re-evaluates every subject's level.
    #[allow(clippy::too_many_arguments)]
    fn advance_clock(
        &mut self,
        offset: i64,
        program_id: &str,
        at: DateTime<Utc>,
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) {
        let Some(p) = self.program_mut(offset, program_id) else {
            return;
        };
        let before = p.stream_time;
        if at <= before {
            return;
        }
        p.stream_time = at;
        let new_day = day_of(at);
        if before == DateTime::<Utc>::UNIX_EPOCH || day_of(before) == new_day {
            return;
        }
        let keep = rules.keep_days();
        p.days.retain(|d| d.day > new_day - keep);
        self.new_day(offset, program_id, new_day, rules, settings, effects);
    }

    #[allow(clippy::too_many_arguments)]
    fn new_day(
        &mut self,
        offset: i64,
        program_id: &str,
        day: i32,
        rules: &ProgramRules,
        settings: &ScorerSettings,
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
            self.dirty.insert(k.clone());
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
            self.dirty.insert(k.clone());
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
        // Each side of the join expires by the other side's clock: when one input lags (a
        // backfill reads one topic faster), its partner records must still be waiting.
        let (attribution_day, context_day) =
            self.programs
                .get(&key('p', &[program_id]))
                .map_or((0, 0), |p| {
                    (
                        day_of(p.value.attribution_time),
                        day_of(p.value.context_time),
                    )
                });
        let ctx_prefix = key('c', &[program_id, ""]);
        let old_contexts: Vec<String> = self
            .contexts
            .iter()
            .filter(|(k, e)| {
                k.starts_with(&ctx_prefix)
                    && e.value.1 <= attribution_day - settings.join_wait_days
                    && Self::fresh_as_of(e.as_of, e.generation, offset, current)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in old_contexts {
            self.contexts.remove(&k);
            self.dirty.insert(k);
        }
        let wait_prefix = key('w', &[program_id, ""]);
        let late: Vec<String> = self
            .waiting
            .iter()
            .filter(|(k, e)| {
                k.starts_with(&wait_prefix)
                    && e.value.1 <= context_day - settings.join_wait_days
                    && Self::fresh_as_of(e.as_of, e.generation, offset, current)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in late {
            let Some(entry) = self.waiting.remove(&k) else {
                continue;
            };
            self.dirty.insert(k);
            if let Ok(attribution) = decode_attribution(&entry.value.0) {
                effects.scored_without_context += 1;
                if self.replay_recorded(offset, &attribution, effects) > 0 {
                    self.score_attribution(offset, &attribution, None, rules, settings, effects);
                }
            }
        }
    }

    /// Scores every unscored action of a conversion attribution.
    #[allow(clippy::too_many_arguments)]
    fn score_attribution(
        &mut self,
        offset: i64,
        attribution: &Attribution,
        context: Option<&ConversionContext>,
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) {
        let program_id = attribution.program_id.as_str();
        let day = day_of(attribution.occurred_at);
        let fp = context.and_then(fingerprint);
        let customer = attribution
            .customer_id
            .clone()
            .or_else(|| context.and_then(|c| c.customer_id.clone()))
            .unwrap_or_else(|| attribution.attribution_key.clone());
        for action in Self::actions_of(attribution) {
            if self.actions.contains_key(&action.id) {
                continue;
            }
            let (link, code_only, seconds) = match action.credit {
                Some(credit) => touch_facts(attribution, credit),
                None => (false, false, None),
            };
            let shared_id = action.credit.and_then(|c| c.shared_id.clone());
            let mut recorded = ScoredAction {
                action_id: action.id.clone(),
                program_id: program_id.into(),
                partner_id: action.partner_id.into(),
                shared_id: shared_id.clone(),
                day,
                flagged: false,
                code_only,
                link,
                fingerprint: fp.clone(),
                customer: customer.clone(),
                self_referral_claim: action.credit.is_none(),
            };
            // Counts include the action being scored; its flag is added once known.
            self.record_counts(offset, &recorded, false);
            let facts_self = if action.credit.is_none() {
                SelfReferral::Claim
            } else if fp.as_ref().is_some_and(|f| {
                self.subjects
                    .get(&subject_key(program_id, action.partner_id, None))
                    .is_some_and(|s| s.value.self_fingerprints.contains(f))
            }) {
                SelfReferral::SameDevice
            } else {
                SelfReferral::No
            };
            let window_first = day - rules.policy.window_days + 1;
            let partner = self
                .subjects
                .get(&subject_key(program_id, action.partner_id, None))
                .map(|s| s.value.days.as_slice())
                .unwrap_or_default();
            let partner_window = sum(partner, window_first, day);
            let day_actions = sum(partner, day, day).actions;
            let baseline_actions =
                sum(partner, day - rules.thresholds.baseline_days(), day - 1).actions;
            let program_window = self
                .programs
                .get(&key('p', &[program_id]))
                .map(|p| sum(&p.value.days, window_first, day))
                .unwrap_or_default();
            let others = WindowCounts {
                clicks: program_window.clicks - partner_window.clicks,
                actions: program_window.actions - partner_window.actions,
                code_only: program_window.code_only - partner_window.code_only,
                link: program_window.link - partner_window.link,
            };
            let fingerprint_customers = fp
                .as_ref()
                .and_then(|f| self.fingerprints.get(&key('f', &[program_id, f])))
                .map_or(0, |e| {
                    e.value
                        .customers
                        .iter()
                        .filter(|c| c.day >= window_first)
                        .count()
                });
            let facts = ActionFacts {
                click_to_conversion_seconds: seconds,
                code_only,
                referrer: context.and_then(|c| c.referrer.as_deref()),
                user_agent: context.and_then(|c| c.user_agent.as_deref()),
                ip_prefix: context.and_then(|c| c.ip_prefix.as_deref()),
                fingerprint_customers: i64::try_from(fingerprint_customers).unwrap_or(i64::MAX),
                self_referral: facts_self,
                partner: counts(&partner_window),
                others,
                day_actions,
                baseline_actions,
            };
            let reasons = rules::evaluate(&facts, &rules.thresholds, &settings.lists);
            recorded.flagged = !reasons.is_empty();
            if recorded.flagged {
                self.add_flag(offset, &recorded);
            }
            let at = self.stream_time(program_id);
            let stream_day = day_of(at);
            let mut partner_level = RiskLevelName::InsufficientData;
            let mut subjects = vec![None];
            if shared_id.is_some() {
                subjects.push(shared_id.as_deref());
            }
            for shared in subjects {
                let k = subject_key(program_id, action.partner_id, shared);
                if let Some(e) = self.subjects.get_mut(&k) {
                    if shared.is_none() {
                        let (scored, flagged) = window_totals(&e.value, stream_day, &rules.policy);
                        partner_level = level(scored, flagged, &rules.policy);
                    }
                    if let Some(l) = publish_if_changed(&mut e.value, stream_day, at, &rules.policy)
                    {
                        effects.levels.push(l);
                    }
                }
            }
            let fired: Vec<String> = reasons.iter().map(|r| r.code.clone()).collect();
            effects.scores.push(RiskScore {
                action_id: action.id.clone(),
                attribution_id: attribution.attribution_id.clone(),
                program_id: program_id.into(),
                partner_id: action.partner_id.into(),
                shared_id: shared_id.clone(),
                order_id: attribution.order_id.clone(),
                action: if action.credit.is_some() {
                    ScoredActionKind::Credit
                } else {
                    ScoredActionKind::SelfReferralClaim
                },
                occurred_at: attribution.occurred_at,
                flagged: recorded.flagged,
                reasons,
                scored_at: at,
            });
            if let Some(credit) = action.credit.filter(|c| c.commission_minor != 0) {
                let outcome = decide(
                    &rules.policy,
                    &fired,
                    partner_level,
                    attribution.occurred_at,
                    rules.hold_seconds,
                );
                effects.decisions.push(decision(
                    attribution,
                    credit,
                    CommissionKind::Commission,
                    outcome.decision,
                    outcome.reasons,
                    Some(partner_level),
                    outcome.hold_until,
                    at,
                ));
            }
            self.dirty_actions.insert(action.id.clone());
            self.actions.insert(
                action.id.clone(),
                Entry {
                    as_of: offset,
                    generation: self.generation,
                    value: recorded,
                },
            );
        }
        self.remove_join(offset, program_id, &attribution.event_id);
    }

    /// Adds an action's counts (and, when `with_flag`, its flag) to the keys that have not
    /// seen `offset`: program, partner, partner + SharedId, fingerprint, self devices.
    fn record_counts(&mut self, offset: i64, a: &ScoredAction, with_flag: bool) {
        let program_id = a.program_id.as_str();
        let credit = !a.self_referral_claim;
        if credit {
            if let Some(p) = self.program_mut(offset, program_id) {
                let d = bucket(&mut p.days, a.day);
                d.actions += 1;
                d.code_only += i64::from(a.code_only);
                d.link += i64::from(a.link);
                d.flagged += i64::from(with_flag && a.flagged);
            }
        }
        let mut subjects = vec![(subject_key(program_id, &a.partner_id, None), None)];
        if let Some(s) = a.shared_id.as_deref().filter(|_| credit) {
            subjects.push((subject_key(program_id, &a.partner_id, Some(s)), Some(s)));
        }
        for (k, shared) in subjects {
            if let Some(s) = self.subject_mut(offset, &k, program_id, &a.partner_id, shared) {
                let d = bucket(&mut s.days, a.day);
                d.actions += 1;
                d.code_only += i64::from(a.code_only);
                d.link += i64::from(a.link);
                d.flagged += i64::from(with_flag && a.flagged);
                if a.self_referral_claim && shared.is_none() {
                    if let Some(fp) = &a.fingerprint {
                        if !s.self_fingerprints.contains(fp) {
                            s.self_fingerprints.push(fp.clone());
                            if s.self_fingerprints.len() > SELF_FINGERPRINTS_KEPT {
                                s.self_fingerprints.remove(0);
                            }
                        }
                    }
                }
            }
        }
        if let Some(fp) = &a.fingerprint {
            let k = key('f', &[program_id, fp]);
            let current = self.generation;
            let e = self.fingerprints.entry(k.clone()).or_insert_with(|| {
                Entry::new(FingerprintState {
                    program_id: program_id.into(),
                    fingerprint: fp.clone(),
                    customers: Vec::new(),
                })
            });
            if Self::fresh_as_of(e.as_of, e.generation, offset, current) {
                e.as_of = offset;
                e.generation = current;
                let customers = &mut e.value.customers;
                customers.retain(|c| c.customer != a.customer);
                customers.push(FingerprintCustomer {
                    customer: a.customer.clone(),
                    day: a.day,
                });
                if customers.len() > FINGERPRINT_CUSTOMERS_KEPT {
                    customers.remove(0);
                }
                self.dirty.insert(k);
            }
        }
    }

    /// Adds a just-scored action's flag to the keys its counts went to.
    fn add_flag(&mut self, offset: i64, a: &ScoredAction) {
        let program_id = a.program_id.as_str();
        if !a.self_referral_claim {
            if let Some(p) = self.program_mut(offset, program_id) {
                bucket(&mut p.days, a.day).flagged += 1;
            }
        }
        let mut subjects = vec![None];
        if let Some(s) = a.shared_id.as_deref().filter(|_| !a.self_referral_claim) {
            subjects.push(Some(s));
        }
        for shared in subjects {
            let k = subject_key(program_id, &a.partner_id, shared);
            if let Some(s) = self.subject_mut(offset, &k, program_id, &a.partner_id, shared) {
                bucket(&mut s.days, a.day).flagged += 1;
            }
        }
    }

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
            .map(|k| {
                let record = match k.chars().next() {
                    Some('p') => self.programs.get(&k).map(|e| RiskState {
                        program: Some(e.value.clone()),
                        ..empty_record(&k, e.as_of)
                    }),
                    Some('s') => self.subjects.get(&k).map(|e| RiskState {
                        subject: Some(e.value.clone()),
                        ..empty_record(&k, e.as_of)
                    }),
                    Some('f') => self.fingerprints.get(&k).map(|e| RiskState {
                        fingerprint: Some(e.value.clone()),
                        ..empty_record(&k, e.as_of)
                    }),
                    Some('c') => self.contexts.get(&k).map(|e| RiskState {
                        context: Some(e.value.0.clone()),
                        day: e.value.1,
                        ..empty_record(&k, e.as_of)
                    }),
                    Some('w') => self.waiting.get(&k).map(|e| RiskState {
                        waiting: Some(e.value.0.clone()),
                        day: e.value.1,
                        ..empty_record(&k, e.as_of)
                    }),
                    _ => None,
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
    pub fn restore(records: Vec<RiskState>) -> ScorerState {
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

fn empty_record(key: &str, as_of: i64) -> RiskState {
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

fn decode_attribution(bytes: &[u8]) -> Result<Attribution, Rejection> {
    schemas::decode::<Attribution>(bytes).map_err(|e| Rejection {
        reason: "undecodable",
        detail: format!("the forwarded attribution does not decode: {e}"),
    })
}

/// Link or code, and seconds from the partner's last click or lead to the conversion.
fn touch_facts(attribution: &Attribution, credit: &Credit) -> (bool, bool, Option<i64>) {
    let mine = attribution
        .evidence
        .iter()
        .filter(|e| credit.touchpoint_ids.contains(&e.touchpoint_id));
    let mut link = false;
    let mut code = false;
    let mut last_click: Option<DateTime<Utc>> = None;
    for e in mine {
        let clicky = matches!(e.kind.as_str(), "click" | "lead");
        if clicky || e.link_id.is_some() {
            link = true;
        }
        if e.code.is_some() {
            code = true;
        }
        if clicky && e.occurred_at <= attribution.occurred_at {
            last_click = last_click.max(Some(e.occurred_at));
        }
    }
    let seconds = last_click.map(|t| (attribution.occurred_at - t).num_seconds());
    (link, code && !link, seconds)
}

/// Scored and flagged actions of the window ending on `day`.
fn window_totals(s: &SubjectState, day: i32, policy: &RiskPolicy) -> (i64, i64) {
    let t = sum(&s.days, day - policy.window_days + 1, day);
    (t.actions, t.flagged)
}

/// The subject's level as of `day`, if it (or its counts) changed since last published.
fn publish_if_changed(
    s: &mut SubjectState,
    day: i32,
    at: DateTime<Utc>,
    policy: &RiskPolicy,
) -> Option<RiskLevel> {
    s.evaluated_day = day;
    let (scored, flagged) = window_totals(s, day, policy);
    let now = level(scored, flagged, policy);
    let name = level_name(now);
    if s.published_level.as_deref() == Some(name)
        && s.published_scored == scored
        && s.published_flagged == flagged
    {
        return None;
    }
    s.published_level = Some(name.into());
    s.published_scored = scored;
    s.published_flagged = flagged;
    Some(risk_level_record(s, now, scored, flagged, policy, at))
}

/// The partner-facing aggregate: counts, Risk % and level, nothing event-level.
pub fn risk_level_record(
    s: &SubjectState,
    level: RiskLevelName,
    scored: i64,
    flagged: i64,
    policy: &RiskPolicy,
    at: DateTime<Utc>,
) -> RiskLevel {
    let mut subject_id = format!("{}/{}", s.program_id, s.partner_id);
    if let Some(shared) = &s.shared_id {
        subject_id.push('/');
        subject_id.push_str(shared);
    }
    RiskLevel {
        subject_id,
        program_id: s.program_id.clone(),
        partner_id: s.partner_id.clone(),
        shared_id: s.shared_id.clone(),
        level,
        risk_percent: risk_percent(scored, flagged),
        scored_actions: scored,
        flagged_actions: flagged,
        window_days: policy.window_days,
        updated_at: at,
    }
}

#[allow(clippy::too_many_arguments)]
fn decision(
    a: &Attribution,
    credit: &Credit,
    kind: CommissionKind,
    decision: Decision,
    reasons: Vec<String>,
    risk_level: Option<RiskLevelName>,
    hold_until: DateTime<Utc>,
    decided_at: DateTime<Utc>,
) -> CommissionDecision {
    CommissionDecision {
        commission_id: credit.commission_id.clone(),
        attribution_id: a.attribution_id.clone(),
        kind,
        reverses_commission_id: credit.reverses_commission_id.clone(),
        program_id: a.program_id.clone(),
        partner_id: credit.partner_id.clone(),
        shared_id: credit.shared_id.clone(),
        order_id: a.order_id.clone(),
        amount_minor: credit.commission_minor,
        currency: a.currency.clone(),
        rule_id: credit.rule_id.clone(),
        chain_id: a.chain_id.clone(),
        chain_seq: a.chain_seq,
        decision,
        decision_reasons: reasons,
        risk_level,
        hold_until,
        occurred_at: a.occurred_at,
        decided_at,
    }
}

/// Renewals and refunds: not scored, payable after the program's hold, no risk context (so
/// a duplicate is byte-identical).
fn pass_through(
    a: &Attribution,
    rules: &ProgramRules,
    kind: CommissionKind,
    effects: &mut Effects,
) {
    for credit in a.credits.iter().filter(|c| c.commission_minor != 0) {
        effects.decisions.push(decision(
            a,
            credit,
            kind,
            Decision::Payable,
            Vec::new(),
            None,
            a.occurred_at + chrono::Duration::seconds(rules.hold_seconds),
            a.attributed_at,
        ));
    }
}
