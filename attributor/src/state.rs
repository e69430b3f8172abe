//! The per-partition state machine: event-time clock, windows, grace, de-duplication, and the
//! changelog records that back it.
//!
//! Invariants:
//! - Output is a pure function of the partition's input order (and the reference data): time
//!   is the partition's *stream time*, a watermark, never the wall clock (except
//!   [`PartitionState::advance_idle`], the documented liveness exception).
//! - The watermark is the smallest event-time progress over the upstream partitions the
//!   enricher merges into this one (each input says which it came from and how far that
//!   source had got), so one source running ahead (a backfill, a restart catching up) never
//!   expires the windows of journeys still arriving from another. A source silent for
//!   [`Limits::source_idle_inputs`] inputs stops holding it back; it never goes backwards.
//! - A conversion waits until stream time reaches `occurred_at + grace`, then is attributed
//!   against the touchpoints that arrived by then; a touchpoint arriving later is counted as
//!   late and changes nothing.
//! - Every record carries `as_of`, the last input offset whose effect it holds. Replaying an
//!   offset at or below a key's `as_of` does not apply it again, and one at or below the
//!   position's applies nothing at all; records are written only after the outputs they
//!   describe were acknowledged. So a restart from any crash point re-derives exactly the
//!   outputs a crash-free run would have produced.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use reference::Catalog;
use schemas::attribution::Attribution;
use schemas::attributor_state::{
    AttributorState, AttributorStateRef, AttributorStateView, PendingConversion, SourceClock,
    StateEntry, StoredTouchpoint, StoredTouchpointRef,
};
use schemas::touchpoint::{
    Channel, EventKind, PartnerStatus, ResolvedBy, SourceProgress, SourceWatermark, LIVE_LAG,
};
use schemas::EnrichedTouchpoint;

use crate::attribute::{attribute, is_placeholder, window_seconds, History};
pub use crate::keys::KeyState;
use crate::keys::{KeyTable, Rest};
use crate::touches::{Symbols, Touches, TouchpointsOf};

/// Bounds on what is kept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Partner touchpoints kept per key; when full, the oldest but the first is dropped.
    pub touchpoints_per_key: usize,
    /// How long orders and chain bindings are kept (for duplicates, refunds, renewals, caps).
    pub retention: Duration,
    /// A source not heard from for this many inputs no longer holds the watermark back.
    pub source_idle_inputs: i64,
    /// Most keys one partition holds ([`PartitionState::enforce_key_cap`]).
    pub keys_max: usize,
}

pub use runtime::stateful::Rejection;

/// What one step did, for metrics and outputs.
#[derive(Debug, Default)]
pub struct Effects {
    /// Attributions to emit, in order.
    pub attributions: Vec<Attribution>,
    /// Inputs already reflected in restored state (a replay after a crash).
    pub replayed: u64,
    /// Duplicate conversions or refunds (same order, same refund event): no output.
    pub duplicates: u64,
    /// Duplicate touchpoints (same event id) ignored.
    pub duplicate_touchpoints: u64,
    /// Touchpoints that arrived after a conversion they would have claimed was attributed.
    pub late_touchpoints: u64,
    /// Touchpoints dropped by the per-key cap.
    pub evicted: u64,
}

/// One input partition's state.
#[derive(Debug, Default)]
pub struct PartitionState {
    /// Offsets up to this one are fully reflected (the last position written).
    position: i64,
    /// Last offset applied.
    last_offset: i64,
    /// Event-time clock (the watermark), in epoch milliseconds.
    stream_time_ms: i64,
    /// Upstream partitions behind the watermark.
    sources: BTreeMap<i32, Source>,
    keys: KeyTable,
    /// Text the keys' touchpoints share.
    symbols: Symbols,
    /// Pending conversions by (due time ms, arrival offset, key).
    due: BTreeSet<(i64, i64, String)>,
    /// Keys changed since the last checkpoint.
    dirty: BTreeSet<String>,
    position_dirty: bool,
    touchpoints: usize,
    /// Keys the sweep under way has still to look at.
    sweep_queue: Vec<String>,
}

/// One upstream partition as this partition has heard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Source {
    /// Largest progress heard (epoch ms); `i64::MIN` for a source known but not heard yet.
    progress_ms: i64,
    /// Offset of the last input from it (or of the one that made it known).
    heard_offset: i64,
    /// The enricher said it is live and quiet: not waited for until it sends again. Not kept
    /// on the changelog (the enricher says it again every few seconds).
    idle: bool,
}

/// Source id of inputs that carry no source (from enrichers before enriched_touchpoint v3):
/// they all count as one source whose progress is their largest `occurred_at`.
const UNKNOWN_SOURCE: i32 = -1;

/// How many times the configured quiet spell a partition waits before the wall clock stands in
/// for sources that disagree or replay history ([`PartitionState::quiet_patience`]).
pub const LAGGING_SOURCE_PATIENCE: u32 = 10;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn program_of(key: &str) -> &str {
    key.split_once('/').map_or(key, |(p, _)| p)
}

impl PartitionState {
    /// An empty partition, before any input.
    pub fn new() -> PartitionState {
        PartitionState {
            position: -1,
            last_offset: -1,
            stream_time_ms: i64::MIN,
            ..PartitionState::default()
        }
    }

    /// Rebuilds a partition from its changelog records (latest per key, tombstones applied);
    /// the catalogue gives each pending conversion's grace. For records already decoded
    /// (tests, tools); the service decodes its changelog borrowed
    /// ([`PartitionState::restore_encoded`]).
    pub fn restore(
        records: impl IntoIterator<Item = AttributorState>,
        catalog: &Catalog,
    ) -> PartitionState {
        let mut state = PartitionState::new();
        for record in records {
            state.restore_one(record.borrowed(), catalog);
        }
        state
    }

    /// Rebuilds a partition from its changelog payloads as written, each decoded borrowed
    /// (its touchpoints' text goes from the payload straight into the packed form): how the
    /// service restores.
    pub fn restore_encoded<'p>(
        payloads: impl IntoIterator<Item = &'p [u8]>,
        catalog: &Catalog,
    ) -> Result<PartitionState, schemas::CodecError> {
        let mut state = PartitionState::new();
        for payload in payloads {
            let record = schemas::decode_as::<AttributorState, AttributorStateRef<'_>>(payload)?;
            state.restore_one(record, catalog);
        }
        Ok(state)
    }

    /// Adds one changelog record to a partition being rebuilt (see [`PartitionState::restore`]).
    pub fn restore_one(&mut self, record: AttributorStateRef<'_>, catalog: &Catalog) {
        match record.entry {
            StateEntry::Position => {
                self.position = record.as_of_offset;
                self.last_offset = self.last_offset.max(record.as_of_offset);
                self.stream_time_ms = ms(record.stream_time);
                self.sources = record
                    .sources
                    .iter()
                    .map(|c| {
                        let progress_ms = ms(c.progress);
                        let source = Source {
                            // Epoch 0 is how "not heard yet" is stored.
                            progress_ms: if progress_ms == 0 {
                                i64::MIN
                            } else {
                                progress_ms
                            },
                            heard_offset: c.heard_offset,
                            idle: false,
                        };
                        (c.partition, source)
                    })
                    .collect();
            }
            StateEntry::KeyState => {
                let key = record.attribution_key;
                for p in &record.pending {
                    self.due
                        .insert((due_ms(p, key, catalog), p.event.offset, key.to_string()));
                }
                self.touchpoints += record.touchpoints.len();
                self.last_offset = self.last_offset.max(record.as_of_offset);
                let mut ks = KeyState::new(key);
                ks.as_of = record.as_of_offset;
                ks.rest = Some(Box::new(Rest {
                    pending: record.pending,
                    orders: record.orders,
                    chains: record.chains,
                }));
                ks.touches = Touches::from_records(key, &record.touchpoints, &mut self.symbols);
                ks.tidy();
                self.keys.insert(ks);
            }
        }
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Touchpoints held.
    pub fn touchpoints(&self) -> usize {
        self.touchpoints
    }

    /// Conversions waiting for grace.
    pub fn pending(&self) -> usize {
        self.due.len()
    }

    /// Approximate heap and inline bytes held: the key table's slots, each key's text and
    /// packed touchpoints, its pending conversions, orders and bindings, and the shared texts.
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        let slot = size_of::<KeyState>() + 1;
        let rest = |ks: &KeyState| {
            ks.rest.as_ref().map_or(0, |_| {
                size_of::<Rest>()
                    + ks.pending().len() * (size_of::<PendingConversion>() + 256)
                    + ks.orders()
                        .iter()
                        .map(|o| 160 + 96 * o.credits.len())
                        .sum::<usize>()
                    + ks.chains()
                        .iter()
                        .map(|c| 128 + 64 * c.partners.len())
                        .sum::<usize>()
            })
        };
        self.keys.slots() * slot
            + self
                .keys
                .iter()
                .map(|ks| ks.touches.bytes() + rest(ks))
                .sum::<usize>()
            + self.symbols.approx_bytes()
    }

    /// The touchpoints kept for `key`, as records.
    pub fn touchpoints_of(&self, key: &str) -> Vec<StoredTouchpoint> {
        self.keys
            .get(key)
            .map_or_else(Vec::new, |ks| ks.touches.to_stored(&self.symbols))
    }

    /// The state of `key`, if any.
    pub fn key(&self, key: &str) -> Option<&KeyState> {
        self.keys.get(key)
    }

    /// Stream time, if any input was seen.
    pub fn stream_time(&self) -> Option<DateTime<Utc>> {
        (self.stream_time_ms != i64::MIN).then(|| at_ms(self.stream_time_ms))
    }

    /// Applies the input at `offset`.
    pub fn apply(
        &mut self,
        offset: i64,
        input: &EnrichedTouchpoint,
        catalog: &Catalog,
        limits: &Limits,
        effects: &mut Effects,
    ) -> Result<(), Rejection> {
        if offset <= self.position {
            effects.replayed += 1;
            return Ok(());
        }
        let pending = pending_of(input, offset)?;
        let key = input.attribution_key.as_str();
        // Decided before anything below touches the key at this offset.
        let already_applied = self.keys.get(key).is_some_and(|k| offset <= k.as_of);
        self.hear(
            offset,
            input.source.as_ref(),
            ms(input.touchpoint.occurred_at),
            false,
            limits,
        );
        self.last_offset = offset;
        self.position_dirty = true;
        // Conversions already due are attributed before this input is applied, so the result
        // never depends on how inputs were batched.
        self.finalize_due(offset, catalog, effects);
        if already_applied {
            effects.replayed += 1;
            return Ok(());
        }
        match pending {
            Some(p) => self.add_pending(offset, key, p, catalog, limits, effects),
            None if input.partner.partner_id.is_some() => self.add_touchpoint(
                offset,
                key,
                stored_ref(input, offset),
                catalog,
                limits,
                effects,
            ),
            None => {}
        }
        Ok(())
    }

    /// Applies a source's watermark record at `offset`: the source is heard at its progress,
    /// and conversions that makes due are attributed.
    pub fn apply_watermark(
        &mut self,
        offset: i64,
        watermark: &SourceWatermark,
        catalog: &Catalog,
        limits: &Limits,
        effects: &mut Effects,
    ) {
        if offset <= self.position {
            return;
        }
        let source = watermark.source();
        self.hear(
            offset,
            Some(&source),
            ms(watermark.progress),
            watermark.idle,
            limits,
        );
        self.last_offset = offset;
        self.position_dirty = true;
        self.finalize_due(offset, catalog, effects);
    }

    /// Takes in the source progress an input carries (a touchpoint that `occurred` then, or a
    /// watermark saying whether the source is `idle`) and moves the watermark up to the
    /// smallest progress over the sources still active.
    fn hear(
        &mut self,
        offset: i64,
        source: Option<&SourceProgress>,
        occurred: i64,
        idle: bool,
        limits: &Limits,
    ) {
        let (source, progress) = match source {
            Some(s) => {
                // Sources this partition has not heard from yet hold the watermark until they
                // are heard or turn idle: a fresh start must not run ahead on the first one.
                // They are all added at once, so the last one present means nothing to add.
                if !self.sources.contains_key(&(s.partitions - 1)) {
                    for partition in 0..s.partitions {
                        self.sources.entry(partition).or_insert(Source {
                            progress_ms: i64::MIN,
                            heard_offset: offset,
                            idle: false,
                        });
                    }
                }
                (s.partition, ms(s.progress).max(occurred))
            }
            None => (UNKNOWN_SOURCE, occurred),
        };
        let heard = self.sources.entry(source).or_insert(Source {
            progress_ms: i64::MIN,
            heard_offset: offset,
            idle,
        });
        heard.progress_ms = heard.progress_ms.max(progress);
        heard.heard_offset = offset;
        heard.idle = idle;
        let low = self.active_progress(offset, limits).min();
        self.stream_time_ms = self.stream_time_ms.max(low.unwrap_or(i64::MIN));
    }

    /// Progress of the sources heard from within the idle limit, as of input `offset`.
    fn active_progress<'a>(
        &'a self,
        offset: i64,
        limits: &Limits,
    ) -> impl Iterator<Item = i64> + Clone + 'a {
        let idle_after = limits.source_idle_inputs.max(1);
        self.sources
            .values()
            .filter(move |s| !s.idle && offset - s.heard_offset < idle_after)
            .map(|s| s.progress_ms)
    }

    /// Whether the enricher said every source of this partition is live and quiet: then
    /// nothing it has read is still coming, and the clock may follow the wall clock at once.
    pub fn sources_idle(&self) -> bool {
        !self.sources.is_empty() && self.sources.values().all(|s| s.idle)
    }

    /// How far the most advanced active source is ahead of the slowest one heard (or of the
    /// watermark, if that is further): the event time a lagging source holds attribution back.
    /// A source not heard yet does not count: it has had no traffic to wait for so far.
    pub fn held_back(&self, limits: &Limits) -> Duration {
        let heard = self
            .active_progress(self.last_offset, limits)
            .filter(|&p| p != i64::MIN);
        let (Some(low), Some(high)) = (heard.clone().min(), heard.max()) else {
            return Duration::zero();
        };
        Duration::milliseconds(high.saturating_sub(low.max(self.stream_time_ms)).max(0))
    }

    /// Whether the sources disagree by more than an hour of event time, or the grace of a
    /// conversion waiting here if longer: a quiet partition is then most likely waiting for a
    /// lagging source to catch up, and moving its clock on the wall clock would expire that
    /// source's windows. Sparse sources at the end of a stream differ by less.
    ///
    /// A source not heard yet while another has been disagrees too: the enricher broadcasts
    /// every source it reads to every partition, so one never heard is one it has not read
    /// yet, most likely because the broker is serving another partition's backlog first (the
    /// chaos run, seed 934433: a 4 s pause in the middle of one source's backlog moved the
    /// clock to its last conversion's grace, and the next source's May clicks expired on
    /// arrival, 82 commissions lost).
    pub fn sources_disagree(&self, catalog: &Catalog, limits: &Limits) -> bool {
        const CATCH_UP_MS: i64 = 3_600_000;
        let unheard = |s: &Source| s.progress_ms == i64::MIN;
        if self.sources.values().any(unheard) && !self.sources.values().all(unheard) {
            return true;
        }
        let grace_ms = self
            .due
            .iter()
            .filter_map(|(_, _, key)| catalog.program(program_of(key)))
            .map(|program| program.attribution.grace_seconds.saturating_mul(1000))
            .max()
            .unwrap_or(0);
        self.held_back(limits).num_milliseconds() > grace_ms.max(CATCH_UP_MS)
    }

    /// The state of `key`, made if new, marked changed at `offset`. Takes the two fields it
    /// needs rather than `self`, so a caller may hold it while reading the symbols.
    fn key_mut<'k>(
        keys: &'k mut KeyTable,
        dirty: &mut BTreeSet<String>,
        key: &str,
        offset: i64,
    ) -> &'k mut KeyState {
        // Allocates the key only the first time it is seen (and once per checkpoint).
        if !dirty.contains(key) {
            dirty.insert(key.to_string());
        }
        let ks = keys.get_or_insert(key);
        ks.as_of = ks.as_of.max(offset);
        ks
    }

    fn add_pending(
        &mut self,
        offset: i64,
        key: &str,
        p: PendingConversion,
        catalog: &Catalog,
        limits: &Limits,
        effects: &mut Effects,
    ) {
        if let Some(ks) = self.keys.get(key) {
            if is_duplicate(ks, &p) {
                effects.duplicates += 1;
                return;
            }
        }
        let due = due_ms(&p, key, catalog);
        let stream_time = self.stream_time_ms;
        let removed = {
            let ks = Self::key_mut(&mut self.keys, &mut self.dirty, key, offset);
            let removed = expire(ks, key, stream_time, catalog, limits);
            ks.rest_mut().pending.push(p);
            removed
        };
        self.touchpoints -= removed;
        self.due.insert((due, offset, key.to_string()));
        // A conversion later than its grace is attributed at once, against what is still kept.
        self.finalize_due(offset, catalog, effects);
    }

    fn add_touchpoint(
        &mut self,
        offset: i64,
        key: &str,
        tp: StoredTouchpointRef<'_>,
        catalog: &Catalog,
        limits: &Limits,
        effects: &mut Effects,
    ) {
        if let Some(ks) = self.keys.get(key) {
            if ks.touches.contains_event(tp.event_id) {
                effects.duplicate_touchpoints += 1;
                return;
            }
        }
        let stream_time = self.stream_time_ms;
        let program = catalog.program(program_of(key));
        let ks = Self::key_mut(&mut self.keys, &mut self.dirty, key, offset);
        let removed = expire(ks, key, stream_time, catalog, limits);
        if let Some(program) = program {
            let window = crate::touches::window_of(tp.kind, tp.resolved_by);
            let reach = Duration::seconds(window_seconds(program, window));
            effects.late_touchpoints += ks
                .orders()
                .iter()
                .filter(|o| {
                    o.occurred_at >= tp.occurred_at && o.occurred_at - tp.occurred_at <= reach
                })
                .count() as u64;
        }
        ks.touches.insert(&tp, &mut self.symbols);
        let mut held = ks.touches.len();
        let mut evicted = 0;
        while held > limits.touchpoints_per_key.max(2) {
            // Keep the first touch and the latest: first- and last-touch stay exact.
            ks.touches.remove(1);
            held -= 1;
            evicted += 1;
        }
        effects.evicted += evicted as u64;
        self.touchpoints = self.touchpoints + 1 - evicted - removed;
    }

    /// Attributes every pending conversion whose grace has passed, oldest due first.
    fn finalize_due(&mut self, offset: i64, catalog: &Catalog, effects: &mut Effects) {
        while let Some(first) = self.due.first() {
            if first.0 > self.stream_time_ms {
                break;
            }
            let Some((due, arrival, key)) = self.due.pop_first() else {
                break;
            };
            // When its grace closed: the same however the partition's clock got there.
            let attributed_at = at_ms(due);
            let ks = Self::key_mut(&mut self.keys, &mut self.dirty, &key, offset);
            let Some(rest) = ks.rest.as_deref_mut() else {
                continue;
            };
            let Some(i) = rest.pending.iter().position(|p| p.event.offset == arrival) else {
                continue;
            };
            let conversion = rest.pending.remove(i);
            // Attribution reads the touchpoints as records: a copy per conversion, which is
            // rarer than touchpoints by an order of magnitude.
            let mut history = History {
                touchpoints: ks.touches.to_stored(&self.symbols),
                orders: std::mem::take(&mut rest.orders),
                chains: std::mem::take(&mut rest.chains),
            };
            let attribution = attribute(&conversion, &key, &mut history, catalog, attributed_at);
            rest.orders = history.orders;
            rest.chains = history.chains;
            ks.tidy();
            effects.attributions.push(attribution);
        }
    }

    /// On a quiet partition, moves stream time on so pending conversions are not held
    /// forever: to the end of the last pending conversion's grace, never past the wall clock.
    /// The one place the wall clock enters: a replay without the quiet spell attributes the
    /// same conversions with stream time instead. Going no further than the pending
    /// conversions need keeps a replay of history (or a quiet spell while an upstream service
    /// restarts) from expiring every window at once.
    /// Returns how many conversions that decided.
    pub fn advance_idle(
        &mut self,
        now: DateTime<Utc>,
        catalog: &Catalog,
        effects: &mut Effects,
    ) -> usize {
        let Some(&(last_due, _, _)) = self.due.last() else {
            return 0;
        };
        let target = ms(now).min(last_due);
        if target <= self.stream_time_ms {
            return 0;
        }
        self.stream_time_ms = target;
        self.position_dirty = true;
        let offset = self.last_offset;
        let before = effects.attributions.len();
        self.finalize_due(offset, catalog, effects);
        effects.attributions.len() - before
    }

    /// How long this partition must have had no input at `now` before the wall clock moves
    /// its clock ([`PartitionState::advance_idle`]), given the configured `quiet` spell:
    /// [`LAGGING_SOURCE_PATIENCE`] times as long while its sources disagree (a lagging one is
    /// most likely catching up after an upstream restart) or it is replaying history (a
    /// pause there is most likely an upstream stall, and every pending conversion is past its
    /// grace on the wall clock, so one step would decide them all before late clicks arrive).
    pub fn quiet_patience(
        &self,
        quiet: std::time::Duration,
        now: DateTime<Utc>,
        catalog: &Catalog,
        limits: &Limits,
    ) -> std::time::Duration {
        if self.sources_disagree(catalog, limits) || self.replaying_history(now) {
            quiet * LAGGING_SOURCE_PATIENCE
        } else {
            quiet
        }
    }

    /// Whether this partition is reading history rather than live traffic at `now`: the newest
    /// event time heard from any source is more than [`LIVE_LAG`] behind the wall clock. A
    /// quiet spell in a replay (a backfill, a catch-up, a test) is more likely an upstream
    /// stall than the end of the stream, so the quiet clock waits longer there.
    pub fn replaying_history(&self, now: DateTime<Utc>) -> bool {
        let newest = self
            .sources
            .values()
            .map(|s| s.progress_ms)
            .max()
            .unwrap_or(i64::MIN)
            .max(self.stream_time_ms);
        newest != i64::MIN && newest < ms(now - LIVE_LAG)
    }

    /// Expires windows, orders and bindings of every key (what a touch would expire lazily),
    /// removing keys left empty, all at once. Returns the number of keys changed.
    pub fn sweep(&mut self, catalog: &Catalog, limits: &Limits) -> usize {
        self.start_sweep();
        self.sweep_step(catalog, limits, usize::MAX)
    }

    /// Starts a sweep (unless one is under way): every key held now is to be looked at, a
    /// slice at a time ([`PartitionState::sweep_step`]), so no checkpoint has to expire and
    /// rewrite the whole partition while input waits.
    pub fn start_sweep(&mut self) {
        if self.sweep_queue.is_empty() {
            self.sweep_queue = self.keys.iter().map(|ks| ks.key().to_string()).collect();
        }
    }

    /// Whether a sweep is under way.
    pub fn sweeping(&self) -> bool {
        !self.sweep_queue.is_empty()
    }

    /// Expires up to `max_keys` keys of the sweep under way (keys gone meanwhile are skipped,
    /// keys made meanwhile wait for the next sweep). Returns the number of keys changed.
    pub fn sweep_step(&mut self, catalog: &Catalog, limits: &Limits, max_keys: usize) -> usize {
        let stream_time = self.stream_time_ms;
        let offset = self.last_offset;
        let take = self.sweep_queue.len().min(max_keys);
        let slice = self.sweep_queue.split_off(self.sweep_queue.len() - take);
        let mut changed = 0;
        for key in slice {
            let Some(ks) = self.keys.get_mut(key.as_str()) else {
                continue;
            };
            let before = (ks.orders().len(), ks.chains().len());
            let removed = expire(ks, &key, stream_time, catalog, limits);
            if removed == 0 && before == (ks.orders().len(), ks.chains().len()) {
                continue;
            }
            ks.as_of = ks.as_of.max(offset);
            self.touchpoints -= removed;
            changed += 1;
            if ks.is_empty() {
                self.keys.remove(key.as_str());
            }
            self.dirty.insert(key);
        }
        changed
    }

    /// Bounds the partition's keys under a flood of untrusted input (forged clicks on a
    /// public link each make a key). Over `limits.keys_max`, keys that hold only touchpoints
    /// — no pending conversion, order or chain, so nothing money depends on — are evicted,
    /// the one whose newest touchpoint is oldest first, down to 90 % of the cap (the headroom
    /// keeps this from running at every input). A conversion that later arrives for an evicted
    /// key is unattributed as if its clicks had expired. Returns the keys evicted.
    pub fn enforce_key_cap(&mut self, limits: &Limits) -> usize {
        let excess = runtime::stateful::over_cap(self.keys.len(), limits.keys_max);
        if excess == 0 {
            return 0;
        }
        let candidates: Vec<(i64, &str)> = self
            .keys
            .iter()
            .filter(|ks| ks.rest.is_none())
            .map(|ks| (ks.touches.newest_ms().unwrap_or(i64::MIN), ks.key()))
            .collect();
        let evicted = runtime::stateful::oldest_keys(candidates, excess);
        let n = evicted.len();
        for key in evicted {
            if let Some(ks) = self.keys.remove(key.as_str()) {
                self.touchpoints -= ks.touches.len();
            }
            self.dirty.insert(key);
        }
        n
    }

    /// Erases the request's attribution keys from this partition: their touchpoints, pending
    /// conversions, orders and chains go (tombstones at the next checkpoint). The money is
    /// the ledger's and stays there; a replayed conversion of an erased order gets the same
    /// deterministic ids, which the ledger de-duplicates. Returns the keys removed.
    pub fn erase(&mut self, request: &schemas::ErasureRequest) -> usize {
        let mut removed = 0;
        for key in &request.attribution_keys {
            if let Some(ks) = self.keys.remove(key.as_str()) {
                self.touchpoints -= ks.touches.len();
                self.dirty.insert(key.clone());
                removed += 1;
            }
        }
        self.due
            .retain(|(_, _, key)| !request.is_attribution_key(key));
        removed
    }

    /// Changelog records of the keys changed since the last call: the key's state, or `None`
    /// (a tombstone) for a key no longer kept.
    pub fn take_changes(&mut self) -> Vec<(String, Option<AttributorState>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|key| {
                let record = self
                    .keys
                    .get(key.as_str())
                    .filter(|ks| !ks.is_empty())
                    .map(|ks| AttributorState {
                        entry: StateEntry::KeyState,
                        attribution_key: key.clone(),
                        as_of_offset: ks.as_of,
                        stream_time: DateTime::UNIX_EPOCH,
                        touchpoints: ks.touches.to_stored(&self.symbols),
                        pending: ks.pending().to_vec(),
                        orders: ks.orders().to_vec(),
                        chains: ks.chains().to_vec(),
                        sources: Vec::new(),
                    });
                if record.is_none() {
                    self.keys.remove(key.as_str());
                }
                (key, record)
            })
            .collect()
    }

    /// [`PartitionState::take_changes`], encoded straight from the keys' state: a checkpoint
    /// does not clone every changed key's history into a record first.
    pub fn take_encoded_changes(
        &mut self,
    ) -> Result<Vec<runtime::stateful::EncodedChange>, schemas::CodecError> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut out = Vec::with_capacity(dirty.len());
        for key in dirty {
            let payload = match self.keys.get(key.as_str()).filter(|ks| !ks.is_empty()) {
                Some(ks) => Some(schemas::codec::encode_as::<AttributorState, _>(
                    &AttributorStateView {
                        entry: StateEntry::KeyState,
                        attribution_key: &key,
                        as_of_offset: ks.as_of,
                        stream_time: DateTime::UNIX_EPOCH,
                        touchpoints: &TouchpointsOf {
                            touches: &ks.touches,
                            symbols: &self.symbols,
                        },
                        pending: ks.pending(),
                        orders: ks.orders(),
                        chains: ks.chains(),
                        sources: &[],
                    },
                )?),
                None => {
                    self.keys.remove(key.as_str());
                    None
                }
            };
            out.push((key, payload));
        }
        Ok(out)
    }

    /// The position record, when it moved since the last call. Written after the key records
    /// of the same checkpoint, so a position always describes keys already on the topic.
    pub fn take_position(&mut self) -> Option<AttributorState> {
        if !std::mem::take(&mut self.position_dirty) {
            return None;
        }
        self.position = self.last_offset;
        Some(AttributorState {
            entry: StateEntry::Position,
            attribution_key: String::new(),
            as_of_offset: self.last_offset,
            stream_time: self.stream_time().unwrap_or(DateTime::UNIX_EPOCH),
            touchpoints: Vec::new(),
            pending: Vec::new(),
            orders: Vec::new(),
            chains: Vec::new(),
            sources: self
                .sources
                .iter()
                .map(|(partition, s)| SourceClock {
                    partition: *partition,
                    progress: at_ms(s.progress_ms.max(0)),
                    heard_offset: s.heard_offset,
                })
                .collect(),
        })
    }
}

/// When a pending conversion is due: its time plus its program's grace.
fn due_ms(p: &PendingConversion, key: &str, catalog: &Catalog) -> i64 {
    let grace = catalog
        .program(program_of(key))
        .map_or(0, |program| program.attribution.grace_seconds);
    ms(p.event.occurred_at).saturating_add(grace.saturating_mul(1000))
}

fn is_duplicate(ks: &KeyState, p: &PendingConversion) -> bool {
    let same_order = |program: &str, order: &str| program == p.program_id && order == p.order_id;
    if p.refund {
        ks.pending()
            .iter()
            .any(|q| q.refund && q.event.event_id == p.event.event_id)
            || ks.orders().iter().any(|o| {
                same_order(&o.program_id, &o.order_id)
                    && o.refund_event_ids.contains(&p.event.event_id)
            })
    } else {
        ks.pending()
            .iter()
            .any(|q| !q.refund && same_order(&q.program_id, &q.order_id))
            || ks
                .orders()
                .iter()
                .any(|o| same_order(&o.program_id, &o.order_id) && !is_placeholder(o))
    }
}

/// Drops what can no longer matter at `stream_time`: touchpoints past their window plus the
/// program's grace (no conversion still to be attributed on time can reach them), orders and
/// bindings past the retention. Returns the number of touchpoints dropped.
fn expire(
    ks: &mut KeyState,
    key: &str,
    stream_time_ms: i64,
    catalog: &Catalog,
    limits: &Limits,
) -> usize {
    // Through a time, as stream time reads before any input: the epoch.
    let now = ms(at_ms(stream_time_ms));
    let program = catalog.program(program_of(key));
    let retention_ms = limits.retention.num_milliseconds();
    let removed = ks.touches.retain(|h| {
        let reach_ms = match program {
            Some(p) => {
                (window_seconds(p, h.window) + p.attribution.grace_seconds).saturating_mul(1000)
            }
            None => retention_ms,
        };
        h.occurred_ms.saturating_add(reach_ms) >= now
    });
    if let Some(rest) = ks.rest.as_deref_mut() {
        let at = at_ms(now);
        rest.orders
            .retain(|o| o.occurred_at + limits.retention >= at);
        rest.chains.retain(|c| c.bound_at + limits.retention >= at);
        ks.tidy();
    }
    removed
}

/// A conversion or refund as a pending record; `None` for other kinds.
fn pending_of(
    input: &EnrichedTouchpoint,
    offset: i64,
) -> Result<Option<PendingConversion>, Rejection> {
    let tp = &input.touchpoint;
    let refund = match tp.kind {
        EventKind::Conversion => false,
        EventKind::Refund => true,
        _ => return Ok(None),
    };
    let missing = |field: &str| Rejection {
        reason: "missing_order_fields",
        detail: format!("{} {} has no {field}", tp.kind.as_str(), tp.event_id),
    };
    Ok(Some(PendingConversion {
        event: stored(input, offset),
        refund,
        program_id: input.program_id.clone(),
        order_id: tp.order_id.clone().ok_or_else(|| missing("order_id"))?,
        amount_minor: tp.amount_minor.ok_or_else(|| missing("amount"))?.abs(),
        currency: tp.currency.clone().ok_or_else(|| missing("currency"))?,
        customer_id: tp.customer_id.clone(),
        chain_id: tp.chain_id.clone(),
        chain_seq: tp.chain_seq,
    }))
}

/// How the stateful harness keeps a partition: one phase of key records, then the position
/// (which describes keys already on the topic).
impl runtime::stateful::PartitionState for PartitionState {
    type Record = AttributorState;
    const PHASES: usize = 1;
    const ENTRY_KINDS: &'static [&'static str] = &["keys", "touchpoints", "pending"];

    fn take_changes(&mut self, _phase: usize) -> Vec<runtime::stateful::Change<AttributorState>> {
        PartitionState::take_changes(self)
    }

    fn take_encoded_changes(
        &mut self,
        _phase: usize,
    ) -> Result<Vec<runtime::stateful::EncodedChange>, runtime::RuntimeError> {
        PartitionState::take_encoded_changes(self).map_err(|error| runtime::RuntimeError::Encode {
            what: "changelog record",
            error,
        })
    }

    fn take_position(&mut self) -> Option<AttributorState> {
        PartitionState::take_position(self)
    }

    fn refresh(&mut self) {
        self.dirty
            .extend(self.keys.iter().map(|ks| ks.key().to_string()));
        self.position_dirty = true;
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.keys(), self.touchpoints(), self.pending()]
    }

    fn approx_bytes(&self) -> usize {
        PartitionState::approx_bytes(self)
    }
}

/// The fields of an enriched touchpoint (arrived at `offset`) that attribution and evidence read.
pub fn stored(input: &EnrichedTouchpoint, offset: i64) -> StoredTouchpoint {
    stored_ref(input, offset).to_stored()
}

/// [`stored`], borrowed from the input.
pub fn stored_ref(input: &EnrichedTouchpoint, offset: i64) -> StoredTouchpointRef<'_> {
    let tp = &input.touchpoint;
    let partner = &input.partner;
    StoredTouchpointRef {
        event_id: &tp.event_id,
        kind: tp.kind.as_str(),
        occurred_at: tp.occurred_at,
        offset,
        partner_id: partner.partner_id.as_deref(),
        partner_status: partner.partner_status.map(|s| match s {
            PartnerStatus::Pending => "pending",
            PartnerStatus::Verified => "verified",
            PartnerStatus::Suspended => "suspended",
        }),
        resolved_by: match partner.resolved_by {
            ResolvedBy::Link => "link",
            ResolvedBy::Code => "code",
            ResolvedBy::QueryParameter => "query_parameter",
            ResolvedBy::None => "none",
        },
        shared_id: partner.shared_id.as_deref(),
        link_id: partner.link_id.as_deref(),
        code: partner.code.as_deref(),
        click_id: tp
            .click_id
            .as_deref()
            .or_else(|| input.ad_click_ids.first().map(|c| c.value.as_str())),
        landing_domain: input.landing_domain.as_deref(),
        channel: match input.channel {
            Channel::Referral => "referral",
            Channel::Paid => "paid",
            Channel::OrganicSearch => "organic_search",
            Channel::Social => "social",
            Channel::Email => "email",
            Channel::Direct => "direct",
            Channel::Unknown => "unknown",
        },
        utm_source: input.utm.source.as_deref(),
        utm_medium: input.utm.medium.as_deref(),
        utm_campaign: input.utm.campaign.as_deref(),
    }
}
