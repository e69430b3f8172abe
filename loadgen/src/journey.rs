//! The facts of one generated customer journey: what the person did, in plain terms. The
//! generator writes them; the oracle reads them. Neither the raw JSON nor any service code is
//! involved, which is what keeps the oracle independent of the pipeline it checks.

use chrono::{DateTime, Utc};

/// How the shopper reached a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A click on a referral link.
    Link(String),
    /// A voucher or referral code redeemed on the shop.
    Code(String),
}

/// One partner touchpoint (page views without a partner are not facts the oracle needs).
#[derive(Debug, Clone)]
pub struct Touch {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Link or code.
    pub via: Via,
    /// Sent after the conversion although it happened before (a late event).
    pub late: bool,
}

/// Planted fraud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraud {
    /// The buyer is one of the partner's own identities.
    SelfReferral,
    /// The conversion comes from automation (a bot user agent).
    Bot,
}

/// A refund of the first order.
#[derive(Debug, Clone)]
pub struct Refund {
    /// Its event id (part of the refund's commission id).
    pub event_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Refunded amount in minor units (positive).
    pub amount_minor: i64,
}

/// A subscription renewal: a new order in the chain of the first one.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// Order id.
    pub order_id: String,
    /// 2, 3, ... (the first order is 1).
    pub seq: i32,
    /// When.
    pub at: DateTime<Utc>,
    /// Amount in minor units.
    pub amount_minor: i64,
}

/// A journey: partner touches, then an order, maybe a refund and renewals.
#[derive(Debug, Clone)]
pub struct Journey {
    /// Program the order belongs to.
    pub program_id: String,
    /// The buyer's customer id, when the shop knows it (then every event carries it).
    pub customer_id: Option<String>,
    /// Partner touches before the order.
    pub touches: Vec<Touch>,
    /// Order id.
    pub order_id: String,
    /// When the order was placed.
    pub at: DateTime<Utc>,
    /// Amount in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Subscription chain id, when the order starts one.
    pub chain_id: Option<String>,
    /// Planted fraud, if any.
    pub fraud: Option<Fraud>,
    /// A refund of the order.
    pub refund: Option<Refund>,
    /// Renewals of the chain.
    pub renewals: Vec<Renewal>,
}
