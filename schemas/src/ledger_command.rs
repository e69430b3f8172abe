//! Commands people give the ledger: payout runs, payout settlement, reviews.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// What a command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Pay a program's approved commissions up to a period end.
    PayoutRun,
    /// The money of a created payout arrived.
    PayoutComplete,
    /// A created payout could not be paid; its items return to the pool.
    PayoutFail,
    /// Approve a held commission.
    ReviewApprove,
    /// Reverse a held commission.
    ReviewReverse,
    /// Reverse any commission by hand (a paid one is clawed back).
    ManualReverse,
}

impl CommandKind {
    /// The schema's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::PayoutRun => "payout_run",
            CommandKind::PayoutComplete => "payout_complete",
            CommandKind::PayoutFail => "payout_fail",
            CommandKind::ReviewApprove => "review_approve",
            CommandKind::ReviewReverse => "review_reverse",
            CommandKind::ManualReverse => "manual_reverse",
        }
    }
}

/// One command. See `avro/ledger_command.v2.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCommand {
    /// Unique per invocation.
    pub command_id: String,
    /// What is asked.
    pub kind: CommandKind,
    /// Who asked.
    pub actor: String,
    /// When.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub issued_at: DateTime<Utc>,
    /// Payout run: program.
    pub program_id: Option<String>,
    /// Payout run: period end.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub period_end: Option<DateTime<Utc>>,
    /// Payout run: minimum payout, decimal in the payout currency's major unit.
    pub minimum_payout: Option<String>,
    /// Payout settlement: the payout.
    pub payout_id: Option<String>,
    /// Review: the commission.
    pub commission_id: Option<String>,
    /// The partner (routing key).
    pub partner_id: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// The principal that signed it (v2).
    #[serde(default)]
    pub principal: Option<String>,
    /// Its signature (v2): HMAC-SHA256 hex under the principal's key, over the command
    /// encoded with `signature: None`.
    #[serde(default)]
    pub signature: Option<String>,
}

avro_message!(
    LedgerCommand,
    "attrib.LedgerCommand",
    ["ledger_command.v1.avsc", "ledger_command.v2.avsc"]
);
