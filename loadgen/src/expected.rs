//! The expected outcome of a workload, as written to `expected.json` next to the workload.

use serde::{Deserialize, Serialize};

/// What the pipeline must produce for a workload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expected {
    /// The seed the workload was generated from.
    pub seed: u64,
    /// Raw messages in the workload (duplicates and malformed ones included).
    pub messages: usize,
    /// Every order (first orders and renewals): who earns what, and why.
    pub orders: Vec<ExpectedOrder>,
    /// Every commission line the ledger must hold.
    pub lines: Vec<ExpectedLine>,
    /// Every planted bad input, with the dead-letter reason it must get.
    pub dead_letters: Vec<ExpectedDeadLetter>,
    /// What else was planted, by kind (duplicates, late events, fraud, ...).
    pub planted: std::collections::BTreeMap<String, usize>,
}

/// One order's expected attribution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExpectedOrder {
    /// Program.
    pub program_id: String,
    /// Order id.
    pub order_id: String,
    /// The partner credited, if anyone.
    pub partner_id: Option<String>,
    /// The commission in minor units of `currency` (0 when nobody is credited).
    pub commission_minor: i64,
    /// Currency of the order.
    pub currency: String,
    /// Why, in words a person can check (e.g. `last click lnk-003-sandals`, `outside_window`).
    pub why: String,
}

/// One commission line of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedLine {
    /// The contract's deterministic commission id.
    pub commission_id: String,
    /// `commission` or `refund`.
    pub line_kind: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Order id.
    pub order_id: String,
    /// Signed amount in minor units (refunds negative).
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// When the event that creates the line happened (the order, refund or renewal).
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// The line must end `reversed` (a full refund, or fraud the program's policy reverses).
    /// `false` claims nothing: risk may still hold or reverse an honest-looking line.
    pub must_end_reversed: bool,
}

/// A planted bad input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExpectedDeadLetter {
    /// What was wrong, for people.
    pub name: String,
    /// The service that must reject it.
    pub service: String,
    /// The dead-letter reason code it must carry.
    pub reason: String,
}
