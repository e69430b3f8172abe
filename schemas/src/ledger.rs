//! Immutable ledger entries, published for finance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// Commission status in the ledger state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerStatus {
    /// Waiting for the hold period.
    Pending,
    /// Held for review.
    Held,
    /// Approved, payable in the next payout.
    Approved,
    /// Included in a completed payout.
    Paid,
    /// Reversed (refund, risk or manual).
    Reversed,
}

impl LedgerStatus {
    /// The schema's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Pending => "pending",
            LedgerStatus::Held => "held",
            LedgerStatus::Approved => "approved",
            LedgerStatus::Paid => "paid",
            LedgerStatus::Reversed => "reversed",
        }
    }
}

/// Kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A status transition.
    StatusChange,
    /// Reversal of a paid commission, netted against the next payout.
    Clawback,
    /// Inclusion in a payout.
    Payout,
}

/// One ledger entry. See `avro/ledger_entry.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Deterministic id.
    pub entry_id: String,
    /// Commission.
    pub commission_id: String,
    /// Attribution.
    pub attribution_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Order id.
    pub order_id: String,
    /// Previous status (none for the first entry).
    pub from_status: Option<LedgerStatus>,
    /// New status.
    pub to_status: LedgerStatus,
    /// Entry kind.
    pub entry_kind: EntryKind,
    /// Signed amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Cause code.
    pub cause: String,
    /// Who caused it.
    pub actor: String,
    /// Payout, for payout entries and clawbacks netted.
    pub payout_id: Option<String>,
    /// Business time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub effective_at: DateTime<Utc>,
    /// When recorded.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub recorded_at: DateTime<Utc>,
    /// Per line: 1 for its first entry, one more per entry; the highest is the current
    /// status (0 on entries written before v2).
    #[serde(default)]
    pub sequence: i32,
    /// `amount_minor` as a decimal string with `currency_exponent` decimals ("" before v2).
    #[serde(default)]
    pub amount: String,
    /// ISO 4217 exponent of `currency` (-1 before v2).
    #[serde(default = "unknown_exponent")]
    pub currency_exponent: i32,
}

fn unknown_exponent() -> i32 {
    -1
}

avro_message!(
    LedgerEntry,
    "attrib.LedgerEntry",
    ["ledger_entry.v1.avsc", "ledger_entry.v2.avsc"]
);
