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
use schemas::risk_signal::{ClickSignal, ConversionContext, RiskSignal};
use schemas::risk_state::{
    DayCounts, FingerprintCustomer, FingerprintState, ProgramTotals, RiskState, ScoredAction,
    SourcePosition, SubjectState,
};
use sha2::{Digest, Sha256};

use crate::level::{level, level_name, risk_percent};
use crate::policy::{decide, default_policy};
use crate::rules::{self, ActionFacts, Lists, SelfReferral, Thresholds, WindowCounts};

use runtime::stateful::POSITION_KEY;

mod bounds;
mod changelog;
mod days;
mod erasure;
mod scoring;

pub use erasure::ERASED;
pub use scoring::risk_level_record;
use scoring::{pass_through, publish_if_changed};
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

pub use runtime::stateful::Rejection;

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
    dirty: BTreeSet<(Kind, String)>,
    generation: u64,
}

/// What a changelog key (other than a scored action's) holds. The key's first character says
/// it on the topic; in memory the kind travels with the key, so nothing is read back from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A program's totals.
    Program,
    /// A partner's (or a partner and SharedId's) windows.
    Subject,
    /// A device fingerprint's customers.
    Fingerprint,
    /// A conversion's context waiting for its attribution.
    Context,
    /// An attribution waiting for its conversion's context.
    Waiting,
}

impl Kind {
    const fn tag(self) -> char {
        match self {
            Kind::Program => 'p',
            Kind::Subject => 's',
            Kind::Fingerprint => 'f',
            Kind::Context => 'c',
            Kind::Waiting => 'w',
        }
    }
}

fn key(kind: Kind, parts: &[&str]) -> String {
    // Unit separator: ids may contain '/', never control characters.
    let mut k = String::from(kind.tag());
    for p in parts {
        k.push('\u{1f}');
        k.push_str(p);
    }
    k
}

fn subject_key(program: &str, partner: &str, shared: Option<&str>) -> String {
    match shared {
        Some(s) => key(Kind::Subject, &[program, partner, s]),
        None => key(Kind::Subject, &[program, partner]),
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
            self.apply_click(offset, program_id, click, day_of(signal.occurred_at));
            return Ok(());
        }
        if let Some(context) = &signal.conversion {
            return self.apply_conversion(offset, signal, context, &rules, settings, effects);
        }
        let Some(bytes) = &signal.attribution else {
            return Err(Rejection {
                reason: "empty_signal",
                detail: "a risk signal with neither click, conversion nor attribution".into(),
            });
        };
        self.apply_attribution(offset, program_id, bytes, &rules, settings, effects)
    }

    /// A partner click: counted for its program and its subjects.
    fn apply_click(&mut self, offset: i64, program_id: &str, click: &ClickSignal, day: i32) {
        if let Some(p) = self.program_mut(offset, program_id) {
            bucket(&mut p.days, day).clicks += 1;
        }
        let mut subjects = vec![None];
        if click.shared_id.is_some() {
            subjects.push(click.shared_id.as_deref());
        }
        for shared in subjects {
            let k = subject_key(program_id, &click.partner_id, shared);
            if let Some(s) = self.subject_mut(offset, &k, program_id, &click.partner_id, shared) {
                bucket(&mut s.days, day).clicks += 1;
            }
        }
    }

    /// A conversion's context: scores the attribution waiting for it, or waits for it.
    fn apply_conversion(
        &mut self,
        offset: i64,
        signal: &RiskSignal,
        context: &ConversionContext,
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) -> Result<(), Rejection> {
        let program_id = signal.program_id.as_str();
        let wait_key = key(Kind::Waiting, &[program_id, &context.event_id]);
        let waiting = match self.waiting.get(&wait_key) {
            Some(e) if self.fresh(e.as_of, e.generation, offset) => {
                self.dirty.insert((Kind::Waiting, wait_key.clone()));
                self.waiting.remove(&wait_key)
            }
            _ => None,
        };
        if let Some(entry) = waiting {
            let attribution = decode_attribution(&entry.value.0)?;
            if self.replay_recorded(offset, &attribution, effects) > 0 {
                let context = Some(context);
                self.score_attribution(offset, &attribution, context, rules, settings, effects);
            }
            return Ok(());
        }
        let ctx_key = key(Kind::Context, &[program_id, &context.event_id]);
        let current = self.generation;
        let entry = self
            .contexts
            .entry(ctx_key.clone())
            .or_insert_with(|| Entry::new((context.clone(), 0)));
        if Self::fresh_as_of(entry.as_of, entry.generation, offset, current) {
            entry.value = (context.clone(), day_of(signal.occurred_at));
            entry.as_of = offset;
            entry.generation = current;
            self.dirty.insert((Kind::Context, ctx_key));
        }
        Ok(())
    }

    /// An attribution: refunds and renewals pass through; a conversion's credits are scored
    /// with its context, or wait for it.
    fn apply_attribution(
        &mut self,
        offset: i64,
        program_id: &str,
        bytes: &[u8],
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) -> Result<(), Rejection> {
        let attribution = decode_attribution(bytes)?;
        match attribution.kind {
            AttributionKind::Refund => {
                effects.refunds += 1;
                pass_through(&attribution, rules, CommissionKind::Reversal, effects);
                return Ok(());
            }
            AttributionKind::Conversion if attribution.chain_seq.is_some_and(|s| s > 1) => {
                // Only a chain's first action is scored; a renewal inherits nothing from it.
                effects.renewals += 1;
                pass_through(&attribution, rules, CommissionKind::Commission, effects);
                return Ok(());
            }
            AttributionKind::Conversion => {}
        }
        let pending = self.replay_recorded(offset, &attribution, effects);
        if pending == 0 {
            return Ok(());
        }
        let ctx_key = key(Kind::Context, &[program_id, &attribution.event_id]);
        let context = match self.contexts.get(&ctx_key) {
            Some(e) if self.fresh(e.as_of, e.generation, offset) => {
                self.dirty.insert((Kind::Context, ctx_key.clone()));
                self.contexts.remove(&ctx_key).map(|e| e.value.0)
            }
            _ => None,
        };
        if let Some(context) = context {
            let context = Some(&context);
            self.score_attribution(offset, &attribution, context, rules, settings, effects);
            return Ok(());
        }
        effects.waited += 1;
        let wait_key = key(Kind::Waiting, &[program_id, &attribution.event_id]);
        let current = self.generation;
        let entry = self
            .waiting
            .entry(wait_key.clone())
            .or_insert_with(|| Entry::new((Vec::new(), 0)));
        if Self::fresh_as_of(entry.as_of, entry.generation, offset, current) {
            entry.value = (bytes.to_vec(), day_of(attribution.occurred_at));
            entry.as_of = offset;
            entry.generation = current;
            self.dirty.insert((Kind::Waiting, wait_key));
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
        let ctx_key = key(Kind::Context, &[program_id, event_id]);
        if let Some(e) = self.contexts.get(&ctx_key) {
            if self.fresh(e.as_of, e.generation, offset) {
                self.contexts.remove(&ctx_key);
                self.dirty.insert((Kind::Context, ctx_key));
            }
        }
        let wait_key = key(Kind::Waiting, &[program_id, event_id]);
        if let Some(e) = self.waiting.get(&wait_key) {
            if self.fresh(e.as_of, e.generation, offset) {
                self.waiting.remove(&wait_key);
                self.dirty.insert((Kind::Waiting, wait_key));
            }
        }
    }

    fn program_mut(&mut self, offset: i64, program_id: &str) -> Option<&mut ProgramTotals> {
        let k = key(Kind::Program, &[program_id]);
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
        self.dirty.insert((Kind::Program, k));
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
        self.dirty.insert((Kind::Subject, k.to_string()));
        Some(&mut e.value)
    }

    fn stream_time(&self, program_id: &str) -> DateTime<Utc> {
        self.programs
            .get(&key(Kind::Program, &[program_id]))
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
}

fn decode_attribution(bytes: &[u8]) -> Result<Attribution, Rejection> {
    schemas::decode::<Attribution>(bytes).map_err(|e| Rejection {
        reason: "undecodable",
        detail: format!("the forwarded attribution does not decode: {e}"),
    })
}
