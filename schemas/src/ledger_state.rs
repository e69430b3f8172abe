//! The ledger-writer's state changelog records (internal).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;
use crate::ledger::LedgerStatus;

/// What a money line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A commission line item from a decision.
    Commission,
    /// A (partial) refund of a commission: negative, follows its commission.
    Refund,
    /// Money a partner owes back for a paid commission that was reversed: negative.
    Clawback,
}

impl LineKind {
    /// The schema's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Commission => "commission",
            LineKind::Refund => "refund",
            LineKind::Clawback => "clawback",
        }
    }
}

/// One money line and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLine {
    /// Commission id, or a derived clawback id.
    pub line_id: String,
    /// What it is.
    pub kind: LineKind,
    /// The commission a refund or clawback is of.
    pub of_commission_id: Option<String>,
    /// Attribution context.
    pub attribution_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Order.
    pub order_id: String,
    /// Signed amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Commission rule.
    pub rule_id: Option<String>,
    /// Risk's reasons (internal).
    pub decision_reasons: Vec<String>,
    /// Partner's risk level at the decision.
    pub risk_level: Option<String>,
    /// Earliest approval.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub hold_until: DateTime<Utc>,
    /// Conversion time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Decision time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub decided_at: DateTime<Utc>,
    /// Current status.
    pub status: LedgerStatus,
    /// When it became approved.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub approved_at: Option<DateTime<Utc>>,
    /// The payout holding or having paid it.
    pub payout_id: Option<String>,
    /// Changes of this record (entries and payout assignment); the newer record wins.
    pub version: i32,
    /// Ledger entries written for it: the sequence of its latest entry (0 before v2).
    #[serde(default)]
    pub entries: i32,
}

/// A payout's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Items reserved; money not sent yet.
    Created,
    /// Money arrived: items are paid.
    Completed,
    /// Not paid: items returned to the pool.
    Failed,
}

impl PayoutStatus {
    /// The schema's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Created => "created",
            PayoutStatus::Completed => "completed",
            PayoutStatus::Failed => "failed",
        }
    }
}

/// One line of a payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutItem {
    /// The line.
    pub line_id: String,
    /// Its kind.
    pub kind: LineKind,
    /// Its signed amount.
    pub amount_minor: i64,
}

/// One payout to one partner in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// Deterministic: program + partner + currency + period end.
    pub payout_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Currency.
    pub currency: String,
    /// Period end.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub period_end: DateTime<Utc>,
    /// Sum of the items.
    pub amount_minor: i64,
    /// Status.
    pub status: PayoutStatus,
    /// Items.
    pub items: Vec<PayoutItem>,
    /// Created (the run's issue time).
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub created_at: DateTime<Utc>,
    /// Completed or failed.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub settled_at: Option<DateTime<Utc>>,
    /// The run that created it.
    pub command_id: String,
    /// Who ran it.
    pub actor: String,
    /// The command that settled it.
    pub settled_by: Option<String>,
    /// Failure reason or note.
    pub note: Option<String>,
    /// Changes so far.
    pub version: i32,
}

/// What became of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// The command.
    pub command_id: String,
    /// Its kind.
    pub kind: String,
    /// Applied, or rejected with `detail`.
    pub accepted: bool,
    /// What happened, or why not.
    pub detail: String,
    /// When it was applied (its issue time).
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub decided_at: DateTime<Utc>,
    /// A review's lines as it left them.
    pub lines: Vec<LedgerLine>,
}

/// One changelog record; the key's prefix says which part is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    /// Changelog key.
    pub key: String,
    /// `l/<line_id>`.
    pub line: Option<LedgerLine>,
    /// `p/<payout_id>`.
    pub payout: Option<Payout>,
    /// `c/<command_id>`.
    pub command: Option<CommandOutcome>,
    /// `position`: the partition's ledger clock.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub clock: Option<DateTime<Utc>>,
}

/// A [`LedgerState`] that borrows what it holds: it encodes to the same bytes (the record's
/// schema), so a checkpoint writes a changed line without first copying it into a record.
#[derive(Debug, Serialize)]
pub struct LedgerStateView<'a> {
    /// Changelog key.
    pub key: &'a str,
    /// `l/<line_id>`.
    pub line: Option<&'a LedgerLine>,
    /// `p/<payout_id>`.
    pub payout: Option<&'a Payout>,
    /// `c/<command_id>`.
    pub command: Option<&'a CommandOutcome>,
    /// `position`: the partition's ledger clock.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub clock: Option<DateTime<Utc>>,
}

impl<'a> LedgerStateView<'a> {
    /// A view of `key` with no part set yet.
    pub fn of(key: &'a str) -> LedgerStateView<'a> {
        LedgerStateView {
            key,
            line: None,
            payout: None,
            command: None,
            clock: None,
        }
    }

    /// The owned record this view encodes as.
    pub fn to_record(&self) -> LedgerState {
        LedgerState {
            key: self.key.to_string(),
            line: self.line.cloned(),
            payout: self.payout.cloned(),
            command: self.command.cloned(),
            clock: self.clock,
        }
    }
}

impl LedgerState {
    /// This record as a view.
    pub fn view(&self) -> LedgerStateView<'_> {
        LedgerStateView {
            key: &self.key,
            line: self.line.as_ref(),
            payout: self.payout.as_ref(),
            command: self.command.as_ref(),
            clock: self.clock,
        }
    }
}

// A payout on its own, as the ledger-writer publishes each change of one.
avro_message!(Payout, "attrib.Payout", ["payout.v1.avsc"]);
avro_message!(
    LedgerState,
    "attrib.LedgerState",
    ["ledger_state.v1.avsc", "ledger_state.v2.avsc"]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_encodes_byte_for_byte_as_the_record() {
        let mut record = crate::examples::ledger_state();
        for clock in [
            None,
            Some(DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default()),
        ] {
            record.clock = clock;
            let owned = crate::encode(&record).expect("encodes");
            let viewed =
                crate::codec::encode_as::<LedgerState, _>(&record.view()).expect("encodes");
            assert_eq!(viewed, owned);
        }
        let bare = LedgerState {
            key: "position".into(),
            line: None,
            payout: None,
            command: None,
            clock: None,
        };
        assert_eq!(
            crate::codec::encode_as::<LedgerState, _>(&bare.view()).expect("encodes"),
            crate::encode(&bare).expect("encodes")
        );
    }
}
