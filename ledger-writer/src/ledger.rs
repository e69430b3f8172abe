//! The ledger state machine: pure, no I/O.
//!
//! Every commission decision becomes a money *line*; a refund of a commission is a line of
//! its own (negative) and so is a clawback of a paid one. A line moves
//!
//! ```text
//!   pending ──hold elapsed──► approved ──payout completed──► paid
//!   held ──review──► approved | reversed
//!   pending | held | approved ──refund in full, risk, review, manual──► reversed
//!   paid ──refund in full, manual──► reversed   (+ a negative clawback line, approved)
//! ```
//!
//! and every move is one immutable [`LedgerEntry`] whose id is derived from the line and the
//! status it reaches (each status is reached at most once), so a replay writes the same ids.
//!
//! * A partial refund of an unpaid commission is a negative line that follows its commission
//!   (same status, same hold, approved with it, paid in the same payout). A refund of a paid
//!   commission, or of one in a payout not settled yet, is a negative line approved at once:
//!   netted against the partner's next payout. A refund of a reversed commission changes
//!   no money; it is recorded as reversed.
//! * The clock is event time per partition: the latest decision time or payout period end
//!   seen. A pending line is approved, effective at its `hold_until`, once the clock passes it.
//! * A payout run pays, per partner and currency, the approved lines approved by the period
//!   end and not in another payout; a net below the minimum (or not positive) carries forward.
//!   Its id is derived from program, partner, currency and period end: a second run of the
//!   same period finds it and creates nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use runtime::stateful::{EncodedChange, POSITION_KEY};
use runtime::RuntimeError;
use rust_decimal::Decimal;
use schemas::commission::{CommissionKind, Decision};
use schemas::ids::{clawback_line_id, entry_id, payout_id};
use schemas::ledger::{EntryKind, LedgerStatus};
use schemas::ledger_command::{CommandKind, LedgerCommand};
use schemas::ledger_state::{
    CommandOutcome, LedgerLine, LedgerState, LedgerStateView, LineKind, Payout, PayoutItem,
    PayoutStatus,
};
use schemas::money::{parse_decimal, Currency};
use schemas::{CommissionDecision, LedgerEntry};

/// Changelog key of the position record.
/// Actor of what the ledger does on its own.
pub const LEDGER_ACTOR: &str = "ledger-writer";

pub use runtime::stateful::Rejection;

/// What one input did.
#[derive(Debug, Default)]
pub struct Effects {
    /// New ledger entries, in order.
    pub entries: Vec<LedgerEntry>,
    /// Lines as they stand after the input, one per changed line.
    pub lines: Vec<LedgerLine>,
    /// Payouts created or settled by the input (written to the changelog before anything
    /// else about them, see the app).
    pub payouts: Vec<Payout>,
    /// A command's outcome.
    pub outcome: Option<CommandOutcome>,
    /// Inputs already applied (a replay or a duplicate).
    pub duplicates: u64,
    /// Refunds parked until their commission arrives.
    pub parked: u64,
}

/// Changelog records to write: (key, record or tombstone).
pub type Changes = Vec<runtime::stateful::Change<LedgerState>>;

/// One partition's ledger.
#[derive(Debug, Default)]
pub struct Ledger {
    lines: HashMap<String, LedgerLine>,
    /// Commission → its refund and clawback lines.
    children: HashMap<String, Vec<String>>,
    payouts: HashMap<String, Payout>,
    commands: HashMap<String, CommandOutcome>,
    /// Pending lines by hold end.
    pending: BTreeSet<(DateTime<Utc>, String)>,
    clock: Option<DateTime<Utc>>,
    /// Refunds that arrived before their commission, as the refund lines they will become, by
    /// line id. Commission and refund reach the ledger by different paths (risk decides a
    /// commission when its context arrives, a refund passes straight through), so after a
    /// restart upstream a refund can overtake its commission; it waits here, not in a dead
    /// letter, and is applied when the commission is created.
    parked: BTreeMap<String, LedgerLine>,
    dirty_lines: BTreeSet<String>,
    dirty_commands: BTreeSet<String>,
    dirty_parked: BTreeSet<String>,
    clock_dirty: bool,
}

/// Changelog key prefix of a parked refund.
const PARKED_PREFIX: &str = "r/";

/// The schema's symbol of a status.
pub fn status_name(status: LedgerStatus) -> &'static str {
    status.as_str()
}

/// Who and why, for an entry.
struct Cause<'a> {
    cause: &'a str,
    actor: &'a str,
    at: DateTime<Utc>,
    kind: EntryKind,
}

impl Ledger {
    /// Rebuilds a partition from its changelog records. Payouts are re-applied to their
    /// lines and reviews' recorded lines replace older ones: those records are written before
    /// the lines' own, so a crash in between must not lose what they did.
    pub fn restore(records: impl IntoIterator<Item = LedgerState>) -> Ledger {
        let mut ledger = Ledger::default();
        let mut outcomes = Vec::new();
        for record in records {
            if record.key.starts_with(PARKED_PREFIX) {
                if let Some(line) = record.line {
                    ledger.parked.insert(line.line_id.clone(), line);
                }
                continue;
            }
            if let Some(line) = record.line {
                ledger.lines.insert(line.line_id.clone(), line);
            }
            if let Some(payout) = record.payout {
                ledger.payouts.insert(payout.payout_id.clone(), payout);
            }
            if let Some(outcome) = record.command {
                outcomes.push(outcome);
            }
            // The clock never goes back: the largest wins, whichever key a release wrote it
            // under (before the harness it was "position").
            if let Some(clock) = record.clock {
                ledger.clock = ledger.clock.max(Some(clock));
            }
        }
        for outcome in outcomes {
            for line in &outcome.lines {
                let newer = ledger
                    .lines
                    .get(&line.line_id)
                    .is_none_or(|known| known.version < line.version);
                if newer {
                    ledger.lines.insert(line.line_id.clone(), line.clone());
                }
            }
            ledger.commands.insert(outcome.command_id.clone(), outcome);
        }
        let payouts: Vec<Payout> = ledger.payouts.values().cloned().collect();
        for payout in &payouts {
            for item in &payout.items {
                if let Some(line) = ledger.lines.get_mut(&item.line_id) {
                    reapply(line, payout);
                }
            }
        }
        for line in ledger.lines.values_mut() {
            if line.entries == 0 {
                line.entries = entries_implied(line);
            }
        }
        for line in ledger.lines.values() {
            if let Some(of) = &line.of_commission_id {
                ledger
                    .children
                    .entry(of.clone())
                    .or_default()
                    .push(line.line_id.clone());
            }
            if line.status == LedgerStatus::Pending {
                ledger
                    .pending
                    .insert((line.hold_until, line.line_id.clone()));
            }
        }
        for children in ledger.children.values_mut() {
            children.sort();
        }
        // A crash between writing a released refund's line and its parked record's tombstone.
        let applied: Vec<String> = ledger
            .parked
            .keys()
            .filter(|id| ledger.lines.contains_key(*id))
            .cloned()
            .collect();
        for id in applied {
            ledger.parked.remove(&id);
            ledger.dirty_parked.insert(id);
        }
        ledger
    }

    /// Refunds waiting for their commission.
    pub fn parked_refunds(&self) -> usize {
        self.parked.len()
    }

    /// Lines held.
    pub fn lines(&self) -> usize {
        self.lines.len()
    }

    /// Payouts held.
    pub fn payouts(&self) -> usize {
        self.payouts.len()
    }

    /// A line, if known.
    pub fn line(&self, id: &str) -> Option<&LedgerLine> {
        self.lines.get(id)
    }

    /// A payout, if known.
    pub fn payout(&self, id: &str) -> Option<&Payout> {
        self.payouts.get(id)
    }

    /// The partition's clock.
    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.clock
    }

    /// Rough bytes held, for the memory gauge.
    pub fn approx_bytes(&self) -> usize {
        const LINE: usize = std::mem::size_of::<LedgerLine>() + 200;
        const ITEM: usize = std::mem::size_of::<PayoutItem>() + 40;
        self.lines.len() * LINE
            + self
                .payouts
                .values()
                .map(|p| std::mem::size_of::<Payout>() + p.items.len() * ITEM)
                .sum::<usize>()
            + self.commands.len() * (std::mem::size_of::<CommandOutcome>() + 100)
    }

    /// Applies one commission decision from risk.
    pub fn apply_decision(
        &mut self,
        d: &CommissionDecision,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), Rejection> {
        if self.lines.contains_key(&d.commission_id) || self.parked.contains_key(&d.commission_id) {
            fx.duplicates += 1;
            return Ok(());
        }
        let result = match d.kind {
            CommissionKind::Commission => {
                self.new_commission(d, now, fx);
                Ok(())
            }
            CommissionKind::Reversal => self.refund(d, now, fx),
        };
        self.advance(d.decided_at, now, fx);
        self.finish(fx);
        result
    }

    fn new_commission(&mut self, d: &CommissionDecision, now: DateTime<Utc>, fx: &mut Effects) {
        let (status, cause) = match d.decision {
            Decision::Payable => (LedgerStatus::Pending, "decided"),
            Decision::Held => (LedgerStatus::Held, "risk_policy"),
            Decision::Reversed => (LedgerStatus::Reversed, "risk_policy"),
        };
        let line = line_from(d, LineKind::Commission, None, status);
        let cause = Cause {
            cause,
            actor: "risk",
            at: d.decided_at,
            kind: EntryKind::StatusChange,
        };
        self.create(line, &cause, now, fx);
        self.release_parked(&d.commission_id, now, fx);
    }

    /// Applies the refunds that were waiting for `commission_id`, oldest decision first.
    fn release_parked(&mut self, commission_id: &str, now: DateTime<Utc>, fx: &mut Effects) {
        let mut waiting: Vec<LedgerLine> = self
            .parked
            .values()
            .filter(|l| l.of_commission_id.as_deref() == Some(commission_id))
            .cloned()
            .collect();
        waiting.sort_by(|a, b| (a.decided_at, &a.line_id).cmp(&(b.decided_at, &b.line_id)));
        for line in waiting {
            self.parked.remove(&line.line_id);
            self.dirty_parked.insert(line.line_id.clone());
            if let Some(parent) = self.lines.get(commission_id).cloned() {
                self.refund_line(parent, line, now, fx);
            }
        }
    }

    fn refund(
        &mut self,
        d: &CommissionDecision,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), Rejection> {
        let Some(of) = d.reverses_commission_id.as_deref() else {
            return Err(Rejection {
                reason: "reversal_without_commission",
                detail: format!("reversal {} names no commission", d.commission_id),
            });
        };
        let line = line_from(d, LineKind::Refund, Some(of), LedgerStatus::Pending);
        match self.lines.get(of).cloned() {
            Some(parent) => self.refund_line(parent, line, now, fx),
            None => {
                tracing::debug!(refund = %d.commission_id, commission = of, "Refund parked until its commission arrives.");
                self.dirty_parked.insert(line.line_id.clone());
                self.parked.insert(line.line_id.clone(), line);
                fx.parked += 1;
            }
        }
        Ok(())
    }

    /// Applies a refund line of `parent`: its status follows the parent's, a full refund
    /// reverses the commission, and a refund of a paid commission is a clawback.
    fn refund_line(
        &mut self,
        parent: LedgerLine,
        mut line: LedgerLine,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) {
        let at = line.decided_at;
        let reserved = parent.payout_id.is_some();
        let full = self.remaining(&parent) + line.amount_minor <= 0;
        let reverse = Cause {
            cause: "refund",
            actor: "attributor",
            at,
            kind: EntryKind::StatusChange,
        };
        line.status = parent.status;
        let kind = match parent.status {
            LedgerStatus::Reversed => {
                // No money moves: the commission earns nothing already.
                let cause = Cause {
                    cause: "refund_of_reversed",
                    ..reverse
                };
                self.create(line, &cause, now, fx);
                return;
            }
            LedgerStatus::Paid => EntryKind::Clawback,
            LedgerStatus::Approved if reserved => EntryKind::Clawback,
            LedgerStatus::Pending | LedgerStatus::Held | LedgerStatus::Approved => {
                EntryKind::StatusChange
            }
        };
        if kind == EntryKind::Clawback {
            // Paid, or being paid: owed back, netted against the next payout.
            line.status = LedgerStatus::Approved;
            line.approved_at = Some(at);
            line.hold_until = at;
            if full && parent.status == LedgerStatus::Paid {
                self.transition(&parent.line_id, LedgerStatus::Reversed, &reverse, now, fx);
            }
        } else if full {
            // Refunded in full before any payout: the commission earns nothing.
            self.reverse_family(&parent.line_id, &reverse, now, fx);
            line.status = LedgerStatus::Reversed;
        } else {
            // Partial: follows its commission to approval and into the same payout.
            line.hold_until = parent.hold_until;
            line.approved_at = parent.approved_at;
        }
        let cause = Cause { kind, ..reverse };
        self.create(line, &cause, now, fx);
    }

    /// What a commission still nets its partner: its amount plus its live refund lines.
    fn remaining(&self, parent: &LedgerLine) -> i64 {
        let children = self.children.get(&parent.line_id);
        parent.amount_minor
            + children
                .into_iter()
                .flatten()
                .filter_map(|id| self.lines.get(id))
                .filter(|l| l.status != LedgerStatus::Reversed)
                .map(|l| l.amount_minor)
                .sum::<i64>()
    }

    /// Reverses a commission and every unpaid refund line of it.
    fn reverse_family(
        &mut self,
        id: &str,
        cause: &Cause<'_>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) {
        self.transition(id, LedgerStatus::Reversed, cause, now, fx);
        for child in self.children.get(id).cloned().unwrap_or_default() {
            let unpaid = self.lines.get(&child).is_some_and(|l| {
                matches!(
                    l.status,
                    LedgerStatus::Pending | LedgerStatus::Held | LedgerStatus::Approved
                ) && l.payout_id.is_none()
            });
            if unpaid {
                self.transition(&child, LedgerStatus::Reversed, cause, now, fx);
            }
        }
    }

    fn create(
        &mut self,
        mut line: LedgerLine,
        cause: &Cause<'_>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) {
        line.entries = 1;
        fx.entries.push(entry(
            &line,
            None,
            line.status,
            line.amount_minor,
            cause,
            None,
            now,
        ));
        line.version = 1;
        if line.status == LedgerStatus::Pending {
            self.pending.insert((line.hold_until, line.line_id.clone()));
        }
        if let Some(of) = &line.of_commission_id {
            let children = self.children.entry(of.clone()).or_default();
            children.push(line.line_id.clone());
            children.sort();
        }
        self.dirty_lines.insert(line.line_id.clone());
        self.lines.insert(line.line_id.clone(), line);
    }

    /// Moves a line to `to`, writing its entry.
    fn transition(
        &mut self,
        id: &str,
        to: LedgerStatus,
        cause: &Cause<'_>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) {
        let Some(line) = self.lines.get_mut(id) else {
            return;
        };
        let from = line.status;
        if from == to {
            return;
        }
        if from == LedgerStatus::Pending {
            self.pending
                .remove(&(line.hold_until, line.line_id.clone()));
        }
        let payout = if to == LedgerStatus::Paid {
            line.payout_id.clone()
        } else {
            None
        };
        line.entries += 1;
        fx.entries.push(entry(
            line,
            Some(from),
            to,
            line.amount_minor,
            cause,
            payout,
            now,
        ));
        line.status = to;
        line.version += 1;
        if to == LedgerStatus::Approved {
            line.approved_at = Some(cause.at);
        }
        self.dirty_lines.insert(id.to_string());
    }

    /// Moves the clock to `to` (never back) and approves what it makes due.
    fn advance(&mut self, to: DateTime<Utc>, now: DateTime<Utc>, fx: &mut Effects) {
        if self.clock.is_some_and(|c| c >= to) {
            return;
        }
        self.clock = Some(to);
        self.clock_dirty = true;
        while let Some((hold_until, id)) = self.pending.first().cloned() {
            if hold_until > to {
                break;
            }
            let cause = Cause {
                cause: "hold_elapsed",
                actor: LEDGER_ACTOR,
                at: hold_until,
                kind: EntryKind::StatusChange,
            };
            self.transition(&id, LedgerStatus::Approved, &cause, now, fx);
            self.pending.remove(&(hold_until, id));
        }
    }

    /// Snapshots the lines the input changed.
    fn finish(&self, fx: &mut Effects) {
        let mut seen = BTreeSet::new();
        for e in &fx.entries {
            seen.insert(e.commission_id.clone());
        }
        for p in &fx.payouts {
            for item in &p.items {
                seen.insert(item.line_id.clone());
            }
        }
        fx.lines = seen
            .iter()
            .filter_map(|id| self.lines.get(id).cloned())
            .collect();
    }

    /// Applies one command; a rejected command is an outcome, not an error.
    pub fn apply_command(&mut self, c: &LedgerCommand, now: DateTime<Utc>, fx: &mut Effects) {
        if self.commands.contains_key(&c.command_id) {
            fx.duplicates += 1;
            return;
        }
        let result = match c.kind {
            CommandKind::PayoutRun => self.payout_run(c, now, fx),
            CommandKind::PayoutComplete | CommandKind::PayoutFail => self.settle(c, now, fx),
            CommandKind::ReviewApprove
            | CommandKind::ReviewReverse
            | CommandKind::ManualReverse => self.review(c, now, fx),
        };
        self.finish(fx);
        self.record_outcome(c, result, fx);
    }

    /// Records `c` as refused without applying it (its principal may not issue it); like any
    /// rejection it is an outcome, kept and answered, and a re-read is a duplicate.
    pub fn refuse_command(&mut self, c: &LedgerCommand, reason: String, fx: &mut Effects) {
        if self.commands.contains_key(&c.command_id) {
            fx.duplicates += 1;
            return;
        }
        self.record_outcome(c, Err(reason), fx);
    }

    fn record_outcome(
        &mut self,
        c: &LedgerCommand,
        result: Result<String, String>,
        fx: &mut Effects,
    ) {
        let (accepted, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        let reviewed = matches!(
            c.kind,
            CommandKind::ReviewApprove | CommandKind::ReviewReverse | CommandKind::ManualReverse
        );
        let outcome = CommandOutcome {
            command_id: c.command_id.clone(),
            kind: c.kind.as_str().into(),
            accepted,
            detail,
            decided_at: c.issued_at,
            lines: if reviewed {
                fx.lines.clone()
            } else {
                Vec::new()
            },
        };
        self.dirty_commands.insert(c.command_id.clone());
        self.commands.insert(c.command_id.clone(), outcome.clone());
        fx.outcome = Some(outcome);
    }

    fn payout_run(
        &mut self,
        c: &LedgerCommand,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<String, String> {
        let program = c
            .program_id
            .as_deref()
            .ok_or("a payout run needs a program")?;
        let period_end = c.period_end.ok_or("a payout run needs a period end")?;
        if period_end > c.issued_at {
            return Err(format!(
                "period end {period_end} is after the run was issued ({}): commissions cannot be paid for time that has not passed",
                c.issued_at
            ));
        }
        let minimum = match c.minimum_payout.as_deref() {
            None => Decimal::ZERO,
            Some(text) => parse_decimal(text)
                .ok()
                .filter(|m| !m.is_sign_negative())
                .ok_or_else(|| format!("minimum payout {text:?} is not a non-negative decimal"))?,
        };
        // Everything due by the period end is approved before the period is paid.
        self.advance(period_end, now, fx);
        let mut groups: BTreeMap<(String, String), Vec<PayoutItem>> = BTreeMap::new();
        for line in self.lines.values() {
            let eligible = line.program_id == program
                && line.status == LedgerStatus::Approved
                && line.payout_id.is_none()
                && line.approved_at.is_some_and(|a| a <= period_end);
            if eligible {
                groups
                    .entry((line.partner_id.clone(), line.currency.clone()))
                    .or_default()
                    .push(PayoutItem {
                        line_id: line.line_id.clone(),
                        kind: line.kind,
                        amount_minor: line.amount_minor,
                    });
            }
        }
        let (mut created, mut existing, mut carried) = (0, 0, 0);
        for known in self.payouts.values() {
            if known.program_id == program && known.period_end == period_end {
                if known.command_id == c.command_id {
                    // This run created it before a crash: tell the sinks again.
                    fx.payouts.push(known.clone());
                    created += 1;
                } else {
                    existing += 1;
                }
            }
        }
        fx.payouts.sort_by(|a, b| a.payout_id.cmp(&b.payout_id));
        for ((partner, currency), mut items) in groups {
            items.sort_by(|a, b| a.line_id.cmp(&b.line_id));
            let minimum_minor = Currency::from_code(&currency)
                .ok_or_else(|| format!("currency {currency} is not ISO 4217"))?
                .to_minor(minimum)
                .map_err(|e| format!("minimum payout {minimum} in {currency}: {e}"))?;
            let id = payout_id(program, &partner, &currency, period_end);
            if self.payouts.contains_key(&id) {
                // Paid for this period already; what was approved since waits for the next.
                continue;
            }
            let amount: i64 = items.iter().map(|i| i.amount_minor).sum();
            if amount <= 0 || amount < minimum_minor {
                carried += 1;
                continue;
            }
            for item in &items {
                if let Some(line) = self.lines.get_mut(&item.line_id) {
                    line.payout_id = Some(id.clone());
                    line.version += 1;
                    self.dirty_lines.insert(item.line_id.clone());
                }
            }
            let payout = Payout {
                payout_id: id.clone(),
                program_id: program.into(),
                partner_id: partner,
                currency,
                period_end,
                amount_minor: amount,
                status: PayoutStatus::Created,
                items,
                created_at: c.issued_at,
                settled_at: None,
                command_id: c.command_id.clone(),
                actor: c.actor.clone(),
                settled_by: None,
                note: None,
                version: 1,
            };
            fx.payouts.push(payout.clone());
            self.payouts.insert(id, payout);
            created += 1;
        }
        Ok(format!(
            "{created} payout(s) created, {existing} already existed, {carried} balance(s) carried forward"
        ))
    }

    fn settle(
        &mut self,
        c: &LedgerCommand,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<String, String> {
        let id = c.payout_id.as_deref().ok_or("needs a payout id")?;
        let payout = self
            .payouts
            .get(id)
            .cloned()
            .ok_or_else(|| format!("unknown payout {id}"))?;
        let completing = c.kind == CommandKind::PayoutComplete;
        let replay = payout.settled_by.as_deref() == Some(c.command_id.as_str());
        if payout.status != PayoutStatus::Created && !replay {
            return Err(format!("payout {id} is already {}", payout.status.as_str()));
        }
        let cause = Cause {
            cause: "payout_completed",
            actor: &c.actor,
            at: c.issued_at,
            kind: EntryKind::Payout,
        };
        for item in &payout.items {
            let Some(line) = self.lines.get(&item.line_id) else {
                continue;
            };
            if completing {
                if replay && line.status == LedgerStatus::Paid {
                    fx.entries.push(entry(
                        line,
                        Some(LedgerStatus::Approved),
                        LedgerStatus::Paid,
                        line.amount_minor,
                        &cause,
                        Some(id.to_string()),
                        now,
                    ));
                } else {
                    self.transition(&item.line_id, LedgerStatus::Paid, &cause, now, fx);
                }
            } else if line.payout_id.as_deref() == Some(id) {
                let line = self.lines.get_mut(&item.line_id).expect("looked up above");
                line.payout_id = None;
                line.version += 1;
                self.dirty_lines.insert(item.line_id.clone());
            }
        }
        let mut settled = payout;
        if !replay {
            settled.status = if completing {
                PayoutStatus::Completed
            } else {
                PayoutStatus::Failed
            };
            settled.settled_at = Some(c.issued_at);
            settled.settled_by = Some(c.command_id.clone());
            settled.note = c.note.clone();
            settled.version += 1;
            self.payouts.insert(id.to_string(), settled.clone());
        }
        let detail = format!(
            "payout {id} {}: {} item(s), {} minor units {}",
            settled.status.as_str(),
            settled.items.len(),
            settled.amount_minor,
            settled.currency
        );
        fx.payouts.push(settled);
        Ok(detail)
    }

    fn review(
        &mut self,
        c: &LedgerCommand,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<String, String> {
        let id = c.commission_id.as_deref().ok_or("needs a commission id")?;
        let line = self
            .lines
            .get(id)
            .cloned()
            .ok_or_else(|| format!("unknown commission {id}"))?;
        if line.kind != LineKind::Commission {
            return Err(format!(
                "{id} is a {} line, not a commission",
                line.kind.as_str()
            ));
        }
        let status = status_name(line.status);
        let cause = Cause {
            cause: if c.kind == CommandKind::ManualReverse {
                "manual"
            } else {
                "review"
            },
            actor: &c.actor,
            at: c.issued_at,
            kind: EntryKind::StatusChange,
        };
        match c.kind {
            CommandKind::ReviewApprove | CommandKind::ReviewReverse => {
                if line.status != LedgerStatus::Held {
                    return Err(format!(
                        "commission {id} is {status}; only held commissions are reviewed"
                    ));
                }
                let to = if c.kind == CommandKind::ReviewApprove {
                    LedgerStatus::Approved
                } else {
                    LedgerStatus::Reversed
                };
                self.transition(id, to, &cause, now, fx);
                for child in self.children.get(id).cloned().unwrap_or_default() {
                    if self
                        .lines
                        .get(&child)
                        .is_some_and(|l| l.status == LedgerStatus::Held)
                    {
                        self.transition(&child, to, &cause, now, fx);
                    }
                }
                Ok(format!("commission {id}: held → {}", status_name(to)))
            }
            _ => match line.status {
                LedgerStatus::Reversed => Err(format!("commission {id} is already reversed")),
                LedgerStatus::Approved if line.payout_id.is_some() => Err(format!(
                    "commission {id} is in payout {} (created): complete or fail the payout first",
                    line.payout_id.as_deref().unwrap_or_default()
                )),
                LedgerStatus::Paid => {
                    let owed = self.remaining(&line);
                    if owed <= 0 {
                        return Err(format!(
                            "commission {id} is paid and already refunded in full"
                        ));
                    }
                    self.transition(id, LedgerStatus::Reversed, &cause, now, fx);
                    let mut clawback = line.clone();
                    clawback.line_id = clawback_line_id(id);
                    clawback.kind = LineKind::Clawback;
                    clawback.of_commission_id = Some(id.to_string());
                    clawback.amount_minor = -owed;
                    clawback.status = LedgerStatus::Approved;
                    clawback.approved_at = Some(c.issued_at);
                    clawback.hold_until = c.issued_at;
                    clawback.payout_id = None;
                    let claw = Cause {
                        kind: EntryKind::Clawback,
                        ..cause
                    };
                    self.create(clawback, &claw, now, fx);
                    Ok(format!(
                        "commission {id}: paid → reversed, {owed} minor units {} clawed back from the next payout",
                        line.currency
                    ))
                }
                _ => {
                    self.reverse_family(id, &cause, now, fx);
                    Ok(format!("commission {id}: {status} → reversed"))
                }
            },
        }
    }

    /// Command outcomes, then lines, then parked refunds: an outcome carries its lines, and a
    /// payout was written when it was made, so a crash between records loses nothing.
    pub fn take_changes(&mut self) -> Changes {
        let Ok(changes) =
            self.drain_changes(|view| Ok::<_, std::convert::Infallible>(view.to_record()));
        changes
    }

    /// The same changes as changelog payloads, encoded from the state itself: a checkpoint
    /// does not copy every changed line into a record first.
    pub fn take_encoded_changes(&mut self) -> Result<Vec<EncodedChange>, RuntimeError> {
        self.drain_changes(|view| {
            schemas::codec::encode_as::<LedgerState, _>(view).map_err(|error| {
                RuntimeError::Encode {
                    what: "changelog record",
                    error,
                }
            })
        })
    }

    /// Drains the changed entries in checkpoint order, making each record with `each`
    /// (`None`: a tombstone).
    fn drain_changes<T, E>(
        &mut self,
        mut each: impl FnMut(&LedgerStateView<'_>) -> Result<T, E>,
    ) -> Result<Vec<(String, Option<T>)>, E> {
        let mut out = Vec::new();
        for id in std::mem::take(&mut self.dirty_commands) {
            if let Some(o) = self.commands.get(&id) {
                let key = format!("c/{id}");
                let record = each(&LedgerStateView {
                    command: Some(o),
                    ..LedgerStateView::of(&key)
                })?;
                out.push((key, Some(record)));
            }
        }
        for id in std::mem::take(&mut self.dirty_lines) {
            if let Some(l) = self.lines.get(&id) {
                let key = format!("l/{id}");
                let record = each(&LedgerStateView {
                    line: Some(l),
                    ..LedgerStateView::of(&key)
                })?;
                out.push((key, Some(record)));
            }
        }
        // After the lines: a released refund's line is on the topic before its parked record goes.
        for id in std::mem::take(&mut self.dirty_parked) {
            let key = format!("{PARKED_PREFIX}{id}");
            let record = match self.parked.get(&id) {
                Some(l) => Some(each(&LedgerStateView {
                    line: Some(l),
                    ..LedgerStateView::of(&key)
                })?),
                None => None,
            };
            out.push((key, record));
        }
        Ok(out)
    }

    /// The clock record, when it moved: written after the lines it approved.
    pub fn take_position(&mut self) -> Option<LedgerState> {
        std::mem::take(&mut self.clock_dirty).then(|| LedgerState {
            clock: self.clock,
            ..record(POSITION_KEY.into())
        })
    }
}

/// How the stateful harness keeps a ledger partition: outcomes, lines and parked refunds in
/// one phase (in that order), the clock as the position.
impl runtime::stateful::PartitionState for Ledger {
    type Record = LedgerState;
    const PHASES: usize = 1;
    const ENTRY_KINDS: &'static [&'static str] = &["lines", "payouts", "parked_refunds"];

    fn take_changes(&mut self, _phase: usize) -> Changes {
        Ledger::take_changes(self)
    }

    fn take_encoded_changes(&mut self, _phase: usize) -> Result<Vec<EncodedChange>, RuntimeError> {
        Ledger::take_encoded_changes(self)
    }

    fn take_position(&mut self) -> Option<LedgerState> {
        Ledger::take_position(self)
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.lines(), self.payouts(), self.parked_refunds()]
    }

    fn approx_bytes(&self) -> usize {
        Ledger::approx_bytes(self)
    }
}

/// The changelog record of a payout.
pub fn payout_record(p: &Payout) -> (String, LedgerState) {
    let key = format!("p/{}", p.payout_id);
    (
        key.clone(),
        LedgerState {
            payout: Some(p.clone()),
            ..record(key)
        },
    )
}

fn record(key: String) -> LedgerState {
    LedgerState {
        key,
        line: None,
        payout: None,
        command: None,
        clock: None,
    }
}

/// Brings a restored line up to what its payout record says.
fn reapply(line: &mut LedgerLine, payout: &Payout) {
    let id = Some(payout.payout_id.clone());
    if payout.status != PayoutStatus::Failed && line.status == LedgerStatus::Pending {
        // Only the clock approves a pending line into a payout: the run's own approval.
        line.status = LedgerStatus::Approved;
        line.approved_at = Some(line.hold_until);
        line.version += 1;
        line.entries += 1;
    }
    match payout.status {
        PayoutStatus::Created
            if line.status == LedgerStatus::Approved && line.payout_id.is_none() =>
        {
            line.payout_id = id;
            line.version += 1;
        }
        PayoutStatus::Completed if line.status == LedgerStatus::Approved => {
            if line.payout_id.is_none() {
                line.version += 1;
            }
            line.status = LedgerStatus::Paid;
            line.payout_id = id;
            line.version += 1;
            line.entries += 1;
        }
        PayoutStatus::Failed if line.payout_id == id && line.status == LedgerStatus::Approved => {
            line.payout_id = None;
            line.version += 1;
        }
        _ => {}
    }
}

fn line_from(
    d: &CommissionDecision,
    kind: LineKind,
    of: Option<&str>,
    status: LedgerStatus,
) -> LedgerLine {
    LedgerLine {
        line_id: d.commission_id.clone(),
        kind,
        of_commission_id: of.map(str::to_string),
        attribution_id: d.attribution_id.clone(),
        program_id: d.program_id.clone(),
        partner_id: d.partner_id.clone(),
        shared_id: d.shared_id.clone(),
        order_id: d.order_id.clone(),
        amount_minor: d.amount_minor,
        currency: d.currency.clone(),
        rule_id: d.rule_id.clone(),
        decision_reasons: d.decision_reasons.clone(),
        risk_level: d.risk_level.map(|l| l.as_str().to_string()),
        hold_until: d.hold_until,
        occurred_at: d.occurred_at,
        decided_at: d.decided_at,
        status,
        approved_at: None,
        payout_id: None,
        version: 0,
        entries: 0,
    }
}

fn entry(
    line: &LedgerLine,
    from: Option<LedgerStatus>,
    to: LedgerStatus,
    amount_minor: i64,
    cause: &Cause<'_>,
    payout_id: Option<String>,
    now: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        entry_id: entry_id(&line.line_id, to),
        commission_id: line.line_id.clone(),
        attribution_id: line.attribution_id.clone(),
        program_id: line.program_id.clone(),
        partner_id: line.partner_id.clone(),
        shared_id: line.shared_id.clone(),
        order_id: line.order_id.clone(),
        from_status: from,
        to_status: to,
        entry_kind: cause.kind,
        amount_minor,
        currency: line.currency.clone(),
        cause: cause.cause.into(),
        actor: cause.actor.into(),
        payout_id,
        effective_at: cause.at,
        recorded_at: now,
        sequence: line.entries,
        amount: amount_text(amount_minor, &line.currency),
        currency_exponent: schemas::money::Currency::from_code(&line.currency)
            .map_or(-1, |c| c.minor_units() as i32),
    }
}

/// The decimal string of a minor-unit amount, at the currency's exponent ("" for a code the
/// ledger never accepts: lines carry only ISO 4217 currencies).
fn amount_text(minor: i64, currency: &str) -> String {
    schemas::money::Currency::from_code(currency)
        .map(|c| c.from_minor(minor).to_string())
        .unwrap_or_default()
}

/// A line restored from a record written before entries were counted: the entries its
/// status implies on its usual path (born pending or held; approved after one of them; paid
/// after approval; reversed from pending or held). Lines born approved or reversed (refunds,
/// clawbacks) have one entry fewer: their next sequence skips one, and the highest still
/// holds the current status.
fn entries_implied(line: &LedgerLine) -> i32 {
    match line.status {
        LedgerStatus::Pending | LedgerStatus::Held => 1,
        LedgerStatus::Approved | LedgerStatus::Reversed => 2,
        LedgerStatus::Paid => 3,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use schemas::commission::CommissionKind;

    use super::*;

    const DAY: i64 = 86_400;

    fn t(day: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_225_600 + day * DAY, 0)
            .single()
            .expect("valid")
    }

    fn decision(
        id: &str,
        partner: &str,
        amount: i64,
        decision: Decision,
        day: i64,
    ) -> CommissionDecision {
        CommissionDecision {
            commission_id: id.into(),
            attribution_id: format!("att-{id}"),
            kind: CommissionKind::Commission,
            reverses_commission_id: None,
            program_id: "acme".into(),
            partner_id: partner.into(),
            shared_id: None,
            order_id: format!("order-{id}"),
            amount_minor: amount,
            currency: "EUR".into(),
            rule_id: None,
            chain_id: None,
            chain_seq: None,
            decision,
            decision_reasons: vec![],
            risk_level: None,
            hold_until: t(day + 30),
            occurred_at: t(day),
            decided_at: t(day),
        }
    }

    fn refund(id: &str, of: &str, partner: &str, amount: i64, day: i64) -> CommissionDecision {
        CommissionDecision {
            kind: CommissionKind::Reversal,
            reverses_commission_id: Some(of.into()),
            hold_until: t(day),
            ..decision(id, partner, -amount, Decision::Payable, day)
        }
    }

    fn command(id: &str, kind: CommandKind, day: i64) -> LedgerCommand {
        LedgerCommand {
            command_id: id.into(),
            kind,
            actor: "finance".into(),
            issued_at: t(day),
            program_id: None,
            period_end: None,
            minimum_payout: None,
            payout_id: None,
            commission_id: None,
            partner_id: None,
            note: None,
            principal: None,
            signature: None,
        }
    }

    fn run(id: &str, period_end: i64, minimum: &str, day: i64) -> LedgerCommand {
        LedgerCommand {
            program_id: Some("acme".into()),
            period_end: Some(t(period_end)),
            minimum_payout: Some(minimum.into()),
            ..command(id, CommandKind::PayoutRun, day)
        }
    }

    fn settle(id: &str, payout: &str, complete: bool, day: i64) -> LedgerCommand {
        let kind = if complete {
            CommandKind::PayoutComplete
        } else {
            CommandKind::PayoutFail
        };
        LedgerCommand {
            payout_id: Some(payout.into()),
            ..command(id, kind, day)
        }
    }

    fn review(id: &str, kind: CommandKind, commission: &str, day: i64) -> LedgerCommand {
        LedgerCommand {
            commission_id: Some(commission.into()),
            ..command(id, kind, day)
        }
    }

    fn decide(l: &mut Ledger, d: &CommissionDecision) -> Effects {
        let mut fx = Effects::default();
        l.apply_decision(d, t(999), &mut fx).expect("accepted");
        fx
    }

    fn order(l: &mut Ledger, c: &LedgerCommand) -> Effects {
        let mut fx = Effects::default();
        l.apply_command(c, t(999), &mut fx);
        fx
    }

    fn status(l: &Ledger, id: &str) -> LedgerStatus {
        l.line(id).expect("known line").status
    }

    fn moves(fx: &Effects) -> Vec<(String, Option<LedgerStatus>, LedgerStatus, i64)> {
        fx.entries
            .iter()
            .map(|e| {
                (
                    e.commission_id.clone(),
                    e.from_status,
                    e.to_status,
                    e.amount_minor,
                )
            })
            .collect()
    }

    #[test]
    fn a_commission_is_approved_when_its_hold_elapses_and_paid_by_a_completed_payout() {
        let mut l = Ledger::default();
        let fx = decide(&mut l, &decision("c1", "p1", 1_000, Decision::Payable, 0));
        assert_eq!(
            moves(&fx),
            vec![("c1".into(), None, LedgerStatus::Pending, 1_000)]
        );
        // A later decision moves the clock past c1's hold.
        let fx = decide(&mut l, &decision("c2", "p1", 500, Decision::Payable, 31));
        assert_eq!(fx.entries.len(), 2);
        assert_eq!(fx.entries[1].to_status, LedgerStatus::Approved);
        assert_eq!(
            fx.entries[1].effective_at,
            t(30),
            "effective when the hold ended"
        );
        // Period end day 40: c1 only (c2's hold ends on day 61).
        let fx = order(&mut l, &run("r1", 40, "0", 41));
        let outcome = fx.outcome.expect("outcome");
        assert!(outcome.accepted, "{}", outcome.detail);
        assert_eq!(fx.payouts.len(), 1);
        let p = &fx.payouts[0];
        assert_eq!((p.amount_minor, p.items.len()), (1_000, 1));
        assert_eq!(p.payout_id, payout_id("acme", "p1", "EUR", t(40)));
        assert_eq!(
            status(&l, "c1"),
            LedgerStatus::Approved,
            "paid only when completed"
        );
        // The same period again: nothing new.
        let again = order(&mut l, &run("r2", 40, "0", 42));
        assert!(again.payouts.is_empty() && again.entries.is_empty());
        assert_eq!(
            again.outcome.expect("o").detail,
            "0 payout(s) created, 1 already existed, 0 balance(s) carried forward"
        );
        let fx = order(&mut l, &settle("s1", &p.payout_id, true, 43));
        assert_eq!(
            moves(&fx),
            vec![(
                "c1".into(),
                Some(LedgerStatus::Approved),
                LedgerStatus::Paid,
                1_000
            )]
        );
        assert_eq!(
            fx.entries[0].payout_id.as_deref(),
            Some(p.payout_id.as_str())
        );
        assert_eq!(status(&l, "c1"), LedgerStatus::Paid);
        // pending (1) → approved (2) → paid (3): the highest sequence is the current status;
        // amounts also travel as decimal strings at the currency's exponent.
        assert_eq!(
            (
                fx.entries[0].sequence,
                fx.entries[0].amount.as_str(),
                fx.entries[0].currency_exponent
            ),
            (3, "10.00", 2)
        );
        assert_eq!(l.line("c1").expect("c1").entries, 3);
        // Completing twice is refused with a reason.
        let fx = order(&mut l, &settle("s2", &p.payout_id, true, 44));
        let o = fx.outcome.expect("o");
        assert!(!o.accepted);
        assert!(o.detail.contains("already completed"), "{}", o.detail);
    }

    #[test]
    fn a_refund_before_payout_reverses_and_after_payout_claws_back_from_the_next() {
        let mut l = Ledger::default();
        decide(&mut l, &decision("c1", "p1", 1_000, Decision::Payable, 0));
        decide(&mut l, &decision("c2", "p1", 800, Decision::Payable, 1));
        // c2 refunded in full before any payout: reversed, nothing moves.
        let fx = decide(&mut l, &refund("r2", "c2", "p1", 800, 5));
        assert_eq!(
            moves(&fx),
            vec![
                (
                    "c2".into(),
                    Some(LedgerStatus::Pending),
                    LedgerStatus::Reversed,
                    800
                ),
                ("r2".into(), None, LedgerStatus::Reversed, -800),
            ]
        );
        let fx = order(&mut l, &run("run-1", 40, "0", 41));
        let p1 = fx.payouts[0].clone();
        assert_eq!((p1.amount_minor, p1.items.len()), (1_000, 1));
        order(&mut l, &settle("s1", &p1.payout_id, true, 42));
        // c1 refunded after payout: clawed back.
        let fx = decide(&mut l, &refund("r1", "c1", "p1", 1_000, 45));
        assert_eq!(fx.entries[0].to_status, LedgerStatus::Reversed);
        assert_eq!(fx.entries[1].entry_kind, EntryKind::Clawback);
        assert_eq!(fx.entries[1].amount_minor, -1_000);
        assert_eq!(status(&l, "r1"), LedgerStatus::Approved, "open clawback");
        // The next period: a new 300 commission against the -1000 clawback: carried forward.
        decide(&mut l, &decision("c3", "p1", 300, Decision::Payable, 46));
        let fx = order(&mut l, &run("run-2", 80, "0", 81));
        assert!(fx.payouts.is_empty(), "negative balance carries forward");
        assert!(fx
            .outcome
            .expect("o")
            .detail
            .ends_with("1 balance(s) carried forward"));
        // More commissions make it positive: one payout nets them.
        decide(&mut l, &decision("c4", "p1", 900, Decision::Payable, 60));
        let fx = order(&mut l, &run("run-3", 95, "0", 96));
        let p = &fx.payouts[0];
        assert_eq!(p.amount_minor, 300 + 900 - 1_000);
        assert_eq!(
            p.items.iter().map(|i| i.amount_minor).sum::<i64>(),
            p.amount_minor
        );
        assert!(p
            .items
            .iter()
            .any(|i| i.line_id == "r1" && i.kind == LineKind::Refund));
    }

    #[test]
    fn a_refund_that_overtakes_its_commission_waits_for_it_and_survives_a_restart() {
        let mut l = Ledger::default();
        // The refund arrives first: nothing moves, nothing is dead-lettered, it is kept.
        let fx = decide(&mut l, &refund("r1", "c1", "p1", 1_000, 5));
        assert!(fx.entries.is_empty());
        assert_eq!((fx.parked, l.parked_refunds(), l.lines()), (1, 1, 0));
        // Its replay is a duplicate, not a second parked refund.
        assert_eq!(
            decide(&mut l, &refund("r1", "c1", "p1", 1_000, 5)).duplicates,
            1
        );
        // A restart in between keeps it (changelog records, latest per key).
        let mut records = std::collections::BTreeMap::new();
        for (key, record) in l.take_changes() {
            records.insert(key, record);
        }
        let mut l = Ledger::restore(records.values().flatten().cloned());
        assert_eq!(l.parked_refunds(), 1);
        // The commission arrives: the full refund is applied at once and reverses it.
        let fx = decide(&mut l, &decision("c1", "p1", 1_000, Decision::Payable, 0));
        assert_eq!(status(&l, "c1"), LedgerStatus::Reversed);
        assert_eq!(status(&l, "r1"), LedgerStatus::Reversed);
        assert_eq!(l.line("r1").map(|r| r.amount_minor), Some(-1_000));
        assert!(fx.entries.iter().any(|e| e.commission_id == "r1"));
        assert_eq!(l.parked_refunds(), 0);
        // The parked record is tombstoned after the refund line is written.
        let changes = l.take_changes();
        let line_at = changes.iter().position(|(k, _)| k == "l/r1");
        let tomb_at = changes.iter().position(|(k, r)| k == "r/r1" && r.is_none());
        assert!(line_at.is_some() && tomb_at.is_some() && line_at < tomb_at);
    }

    #[test]
    fn a_checkpoint_encoded_from_the_state_is_the_records_encoded() {
        // Lines, a parked refund, then its tombstone: every kind of change a checkpoint writes.
        let steps = [
            refund("r1", "c1", "p1", 1_000, 5),
            decision("c2", "p2", 700, Decision::Held, 0),
            decision("c1", "p1", 1_000, Decision::Payable, 0),
        ];
        let (mut owned, mut encoded) = (Ledger::default(), Ledger::default());
        for step in &steps {
            decide(&mut owned, step);
            decide(&mut encoded, step);
            let want: Vec<EncodedChange> = owned
                .take_changes()
                .into_iter()
                .map(|(key, record)| (key, record.map(|r| schemas::encode(&r).expect("encodes"))))
                .collect();
            assert!(!want.is_empty());
            assert_eq!(encoded.take_encoded_changes().expect("encodes"), want);
        }
    }

    #[test]
    fn a_partial_refund_follows_its_commission_and_the_minimum_carries_small_balances() {
        let mut l = Ledger::default();
        decide(&mut l, &decision("c1", "p1", 1_000, Decision::Payable, 0));
        let fx = decide(&mut l, &refund("r1", "c1", "p1", 250, 3));
        assert_eq!(
            moves(&fx),
            vec![("r1".into(), None, LedgerStatus::Pending, -250)]
        );
        // Below a 10.00 EUR minimum: carried.
        let fx = order(&mut l, &run("run-1", 40, "10.00", 41));
        assert!(fx.payouts.is_empty());
        assert_eq!(status(&l, "r1"), LedgerStatus::Approved, "approved with c1");
        // A 7.50 minimum lets the 7.50 net through.
        let fx = order(&mut l, &run("run-2", 40, "7.50", 42));
        assert_eq!(fx.payouts[0].amount_minor, 750);
        let fx = order(&mut l, &run("run-3", 40, "-1", 43));
        assert!(!fx.outcome.expect("o").accepted);
    }

    #[test]
    fn held_commissions_wait_for_a_review_and_reviews_are_validated() {
        let mut l = Ledger::default();
        decide(&mut l, &decision("c1", "p1", 1_000, Decision::Held, 0));
        decide(&mut l, &decision("c2", "p1", 400, Decision::Held, 0));
        decide(&mut l, &decision("c3", "p1", 200, Decision::Payable, 100));
        assert_eq!(
            status(&l, "c1"),
            LedgerStatus::Held,
            "the clock does not approve held lines"
        );
        let fx = order(&mut l, &review("v1", CommandKind::ReviewApprove, "c1", 101));
        assert_eq!(
            moves(&fx),
            vec![(
                "c1".into(),
                Some(LedgerStatus::Held),
                LedgerStatus::Approved,
                1_000
            )]
        );
        assert_eq!(fx.entries[0].actor, "finance");
        assert_eq!(fx.outcome.expect("o").lines.len(), 1);
        order(&mut l, &review("v2", CommandKind::ReviewReverse, "c2", 101));
        assert_eq!(status(&l, "c2"), LedgerStatus::Reversed);
        for (cmd, id, says) in [
            ("v3", "c1", "only held commissions are reviewed"),
            ("v4", "nope", "unknown commission nope"),
        ] {
            let o = order(&mut l, &review(cmd, CommandKind::ReviewApprove, id, 102))
                .outcome
                .expect("o");
            assert!(!o.accepted && o.detail.contains(says), "{}", o.detail);
        }
        // A command read twice is applied once.
        let fx = order(&mut l, &review("v1", CommandKind::ReviewApprove, "c1", 101));
        assert_eq!((fx.duplicates, fx.entries.len()), (1, 0));
    }

    #[test]
    fn a_refused_command_changes_nothing_and_is_recorded_once() {
        let mut l = Ledger::default();
        decide(&mut l, &decision("c1", "pa", 1_000, Decision::Payable, 0));
        decide(&mut l, &decision("c2", "pa", 500, Decision::Payable, 39));
        let mut fx = Effects::default();
        let c = run("r1", 40, "0", 40);
        l.refuse_command(
            &c,
            "refused: principal `reviewer` may not issue payout_run".into(),
            &mut fx,
        );
        let outcome = fx.outcome.expect("recorded");
        assert!(!outcome.accepted);
        assert!(outcome.detail.contains("may not issue payout_run"));
        assert!(fx.entries.is_empty() && fx.payouts.is_empty());
        assert_eq!(l.payouts(), 0, "nothing was paid");
        let mut again = Effects::default();
        l.refuse_command(&c, "refused".into(), &mut again);
        assert_eq!(again.duplicates, 1);
        let mut applied = Effects::default();
        l.apply_command(&c, t(41), &mut applied);
        assert_eq!(applied.duplicates, 1, "a refused command id stays refused");
    }

    #[test]
    fn a_paid_commission_reversed_by_hand_is_clawed_back_and_a_failed_payout_frees_its_items() {
        let mut l = Ledger::default();
        decide(&mut l, &decision("c1", "p1", 1_000, Decision::Payable, 0));
        let p = order(&mut l, &run("run-1", 40, "0", 41)).payouts[0].clone();
        let o = order(&mut l, &review("m0", CommandKind::ManualReverse, "c1", 41))
            .outcome
            .expect("o");
        assert!(
            o.detail.contains("complete or fail the payout first"),
            "{}",
            o.detail
        );
        order(&mut l, &settle("f1", &p.payout_id, false, 42));
        assert_eq!(l.line("c1").expect("c1").payout_id, None);
        let p2 = order(&mut l, &run("run-2", 42, "0", 43)).payouts[0].clone();
        order(&mut l, &settle("s2", &p2.payout_id, true, 44));
        let fx = order(&mut l, &review("m1", CommandKind::ManualReverse, "c1", 45));
        let claw = clawback_line_id("c1");
        assert_eq!(
            moves(&fx),
            vec![
                (
                    "c1".into(),
                    Some(LedgerStatus::Paid),
                    LedgerStatus::Reversed,
                    1_000
                ),
                (claw.clone(), None, LedgerStatus::Approved, -1_000),
            ]
        );
        assert_eq!(
            l.line("c1").expect("c1").payout_id.as_deref(),
            Some(p2.payout_id.as_str())
        );
    }

    #[test]
    fn restoring_the_changelog_gives_back_the_same_ledger_even_if_a_crash_lost_line_records() {
        let mut l = Ledger::default();
        decide(&mut l, &decision("c1", "p1", 1_000, Decision::Payable, 0));
        decide(&mut l, &decision("c2", "p1", 500, Decision::Held, 0));
        let mut records: Vec<LedgerState> = l
            .take_changes()
            .into_iter()
            .filter_map(|(_, r)| r)
            .collect();
        let fx = order(&mut l, &run("run-1", 40, "0", 41));
        records.extend(fx.payouts.iter().map(|p| payout_record(p).1));
        order(&mut l, &review("v1", CommandKind::ReviewApprove, "c2", 41));
        // The crash: outcome records written, line records and the position not.
        let changes = l.take_changes();
        records.extend(
            changes
                .into_iter()
                .filter(|(k, _)| k.starts_with("c/"))
                .filter_map(|(_, r)| r),
        );
        let restored = Ledger::restore(records);
        for id in ["c1", "c2"] {
            assert_eq!(restored.line(id), l.line(id), "{id}");
        }
        assert_eq!(restored.payouts(), 1);
    }
}
