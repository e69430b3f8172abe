//! The attributor's changelog: what it keeps per attribution key, and each partition's position.
//! Internal to the attributor; on a topic so that any instance can restore a partition.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// Which kind of changelog record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateEntry {
    /// Everything kept for one attribution key.
    KeyState,
    /// A partition's event-time clock and the offset it reflects.
    Position,
}

/// A partner touchpoint kept for the attribution windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTouchpoint {
    /// Event id.
    pub event_id: String,
    /// Raw event kind name.
    pub kind: String,
    /// When it happened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Input offset it arrived at.
    pub offset: i64,
    /// Partner.
    pub partner_id: Option<String>,
    /// Partner status at enrichment.
    pub partner_status: Option<String>,
    /// `link`, `code`, `query_parameter` or `none`.
    pub resolved_by: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Link id.
    pub link_id: Option<String>,
    /// Code.
    pub code: Option<String>,
    /// Click id (the event's, else the first ad click id).
    pub click_id: Option<String>,
    /// Landing domain.
    pub landing_domain: Option<String>,
    /// Channel name.
    pub channel: String,
    /// utm_source.
    pub utm_source: Option<String>,
    /// utm_medium.
    pub utm_medium: Option<String>,
    /// utm_campaign.
    pub utm_campaign: Option<String>,
}

/// A [`StoredTouchpoint`] borrowed from wherever its text is held (an input being applied, or a
/// state's compact copy): what a state freezes from and encodes from without owning the strings
/// first, and what a restore decodes a changelog record's touchpoints into. Serializes and
/// deserializes exactly as the owned touchpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTouchpointRef<'a> {
    /// Event id.
    pub event_id: &'a str,
    /// Raw event kind name.
    pub kind: &'a str,
    /// When it happened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Input offset it arrived at.
    pub offset: i64,
    /// Partner.
    #[serde(borrow)]
    pub partner_id: Option<&'a str>,
    /// Partner status at enrichment.
    #[serde(borrow)]
    pub partner_status: Option<&'a str>,
    /// `link`, `code`, `query_parameter` or `none`.
    pub resolved_by: &'a str,
    /// SharedId.
    #[serde(borrow)]
    pub shared_id: Option<&'a str>,
    /// Link id.
    #[serde(borrow)]
    pub link_id: Option<&'a str>,
    /// Code.
    #[serde(borrow)]
    pub code: Option<&'a str>,
    /// Click id.
    #[serde(borrow)]
    pub click_id: Option<&'a str>,
    /// Landing domain.
    #[serde(borrow)]
    pub landing_domain: Option<&'a str>,
    /// Channel name.
    pub channel: &'a str,
    /// utm_source.
    #[serde(borrow)]
    pub utm_source: Option<&'a str>,
    /// utm_medium.
    #[serde(borrow)]
    pub utm_medium: Option<&'a str>,
    /// utm_campaign.
    #[serde(borrow)]
    pub utm_campaign: Option<&'a str>,
}

impl StoredTouchpoint {
    /// This touchpoint borrowed.
    pub fn borrowed(&self) -> StoredTouchpointRef<'_> {
        StoredTouchpointRef {
            event_id: &self.event_id,
            kind: &self.kind,
            occurred_at: self.occurred_at,
            offset: self.offset,
            partner_id: self.partner_id.as_deref(),
            partner_status: self.partner_status.as_deref(),
            resolved_by: &self.resolved_by,
            shared_id: self.shared_id.as_deref(),
            link_id: self.link_id.as_deref(),
            code: self.code.as_deref(),
            click_id: self.click_id.as_deref(),
            landing_domain: self.landing_domain.as_deref(),
            channel: &self.channel,
            utm_source: self.utm_source.as_deref(),
            utm_medium: self.utm_medium.as_deref(),
            utm_campaign: self.utm_campaign.as_deref(),
        }
    }
}

impl StoredTouchpointRef<'_> {
    /// An owned copy.
    pub fn to_stored(&self) -> StoredTouchpoint {
        let own = |s: Option<&str>| s.map(str::to_string);
        StoredTouchpoint {
            event_id: self.event_id.to_string(),
            kind: self.kind.to_string(),
            occurred_at: self.occurred_at,
            offset: self.offset,
            partner_id: own(self.partner_id),
            partner_status: own(self.partner_status),
            resolved_by: self.resolved_by.to_string(),
            shared_id: own(self.shared_id),
            link_id: own(self.link_id),
            code: own(self.code),
            click_id: own(self.click_id),
            landing_domain: own(self.landing_domain),
            channel: self.channel.to_string(),
            utm_source: own(self.utm_source),
            utm_medium: own(self.utm_medium),
            utm_campaign: own(self.utm_campaign),
        }
    }
}

/// A conversion or refund waiting for its grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConversion {
    /// The event itself.
    pub event: StoredTouchpoint,
    /// A refund rather than a conversion.
    pub refund: bool,
    /// Program.
    pub program_id: String,
    /// Order id.
    pub order_id: String,
    /// Amount in minor units (positive).
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Customer.
    pub customer_id: Option<String>,
    /// Subscription chain.
    pub chain_id: Option<String>,
    /// Position in the chain.
    pub chain_seq: Option<i32>,
}

/// One partner's line item of an attributed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCredit {
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Commission id.
    pub commission_id: String,
    /// Commission in minor units.
    pub commission_minor: i64,
    /// The partner's share of the order amount.
    pub revenue_minor: i64,
    /// Reversed so far (positive).
    pub reversed_minor: i64,
}

/// An order already attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Program.
    pub program_id: String,
    /// Order id.
    pub order_id: String,
    /// Its attribution.
    pub attribution_id: String,
    /// Conversion time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Order amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Refunded so far (positive).
    pub refunded_minor: i64,
    /// Refund events already applied.
    pub refund_event_ids: Vec<String>,
    /// Line items.
    pub credits: Vec<OrderCredit>,
}

/// A partner a chain is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPartner {
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Share of the first action.
    pub share: Decimal,
}

/// Partners a chain or customer is bound to by its first attributed action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBinding {
    /// `chain:<id>` or `customer:<id>`.
    pub binding: String,
    /// Program.
    pub program_id: String,
    /// The first action's attribution.
    pub attribution_id: String,
    /// When the first action happened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub bound_at: DateTime<Utc>,
    /// Partners and shares.
    pub partners: Vec<ChainPartner>,
    /// v3: renewals attributed through this binding so far (numbers the renewals that come
    /// without `chain_seq`).
    #[serde(default)]
    pub renewals: i32,
}

/// One changelog record. See `avro/attributor_state.v3.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributorState {
    /// Key state or position.
    pub entry: StateEntry,
    /// The key (empty for a position).
    pub attribution_key: String,
    /// Last input offset whose effect the record holds.
    pub as_of_offset: i64,
    /// Position records: the partition's event-time clock.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub stream_time: DateTime<Utc>,
    /// Touchpoints in the windows.
    pub touchpoints: Vec<StoredTouchpoint>,
    /// Conversions waiting for grace.
    pub pending: Vec<PendingConversion>,
    /// Attributed orders.
    pub orders: Vec<OrderRecord>,
    /// Chain and customer bindings.
    pub chains: Vec<ChainBinding>,
    /// Position records: the sources behind the watermark (v2; empty before and in key records).
    #[serde(default)]
    pub sources: Vec<SourceClock>,
}

/// An [`AttributorState`] decoded with its touchpoints' text borrowed from the message
/// ([`crate::codec::decode_as`]): a restore reads a million of these, and the touchpoints'
/// strings would only be copied once more into the state's compact form. Deserializes exactly
/// as the owned record (a test compares them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttributorStateRef<'a> {
    /// Key state or position.
    pub entry: StateEntry,
    /// The key (empty for a position).
    pub attribution_key: &'a str,
    /// Last input offset whose effect the record holds.
    pub as_of_offset: i64,
    /// Position records: the partition's event-time clock.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub stream_time: DateTime<Utc>,
    /// Touchpoints in the windows.
    #[serde(borrow)]
    pub touchpoints: Vec<StoredTouchpointRef<'a>>,
    /// Conversions waiting for grace.
    pub pending: Vec<PendingConversion>,
    /// Attributed orders.
    pub orders: Vec<OrderRecord>,
    /// Chain and customer bindings.
    pub chains: Vec<ChainBinding>,
    /// Position records: the sources behind the watermark (v2; empty before and in key records).
    #[serde(default)]
    pub sources: Vec<SourceClock>,
}

impl AttributorState {
    /// This record borrowed, as [`AttributorStateRef`] (the vectors other than the
    /// touchpoints are cloned: they are short, and kept whole by a restored state).
    pub fn borrowed(&self) -> AttributorStateRef<'_> {
        AttributorStateRef {
            entry: self.entry,
            attribution_key: &self.attribution_key,
            as_of_offset: self.as_of_offset,
            stream_time: self.stream_time,
            touchpoints: self
                .touchpoints
                .iter()
                .map(StoredTouchpoint::borrowed)
                .collect(),
            pending: self.pending.clone(),
            orders: self.orders.clone(),
            chains: self.chains.clone(),
            sources: self.sources.clone(),
        }
    }
}

/// A key record of [`AttributorState`] borrowed from the state that holds its parts, written
/// with [`crate::codec::encode_as`]: a checkpoint encodes what it holds without cloning every
/// changed key's history into a record first. Serializes exactly as the owned record. `T` is how
/// the touchpoints are held: a slice of them, or anything that serializes as one (a state's
/// compact copy).
#[derive(Debug, Serialize)]
pub struct AttributorStateView<'a, T: ?Sized + Serialize = [StoredTouchpoint]> {
    /// Key state or position.
    pub entry: StateEntry,
    /// The key (empty for a position).
    pub attribution_key: &'a str,
    /// Last input offset whose effect the record holds.
    pub as_of_offset: i64,
    /// Position records: the partition's event-time clock.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub stream_time: DateTime<Utc>,
    /// Touchpoints in the windows.
    pub touchpoints: &'a T,
    /// Conversions waiting for grace.
    pub pending: &'a [PendingConversion],
    /// Attributed orders.
    pub orders: &'a [OrderRecord],
    /// Chain and customer bindings.
    pub chains: &'a [ChainBinding],
    /// Position records: the sources behind the watermark.
    pub sources: &'a [SourceClock],
}

/// How far one upstream partition has got, as a partition of the attributor heard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceClock {
    /// Source partition (-1: records that carry no source).
    pub partition: i32,
    /// Largest progress heard from it (epoch 0: none yet).
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub progress: DateTime<Utc>,
    /// Input offset of the last record from it, or of the one that made it known.
    pub heard_offset: i64,
}

avro_message!(
    AttributorState,
    "attrib.AttributorState",
    [
        "attributor_state.v1.avsc",
        "attributor_state.v2.avsc",
        "attributor_state.v3.avsc"
    ]
);

impl AttributorState {
    /// This record as a view (what [`AttributorStateView`] borrows).
    pub fn view(&self) -> AttributorStateView<'_> {
        AttributorStateView {
            entry: self.entry,
            attribution_key: &self.attribution_key,
            as_of_offset: self.as_of_offset,
            stream_time: self.stream_time,
            touchpoints: &self.touchpoints,
            pending: &self.pending,
            orders: &self.orders,
            chains: &self.chains,
            sources: &self.sources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_encodes_byte_for_byte_as_the_record() {
        let mut record = crate::examples::attributor_state();
        record.sources = vec![SourceClock {
            partition: 2,
            progress: DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default(),
            heard_offset: 9,
        }];
        let owned = crate::encode(&record).expect("encodes");
        let viewed =
            crate::codec::encode_as::<AttributorState, _>(&record.view()).expect("encodes");
        assert_eq!(viewed, owned);
        assert_eq!(
            crate::decode::<AttributorState>(&viewed).expect("decodes"),
            record
        );
    }

    #[test]
    fn borrowed_touchpoints_encode_as_the_owned_ones() {
        let record = crate::examples::attributor_state();
        let borrowed: Vec<StoredTouchpointRef<'_>> =
            record.touchpoints.iter().map(|t| t.borrowed()).collect();
        let viewed = crate::codec::encode_as::<AttributorState, _>(&AttributorStateView {
            entry: record.entry,
            attribution_key: &record.attribution_key,
            as_of_offset: record.as_of_offset,
            stream_time: record.stream_time,
            touchpoints: borrowed.as_slice(),
            pending: &record.pending,
            orders: &record.orders,
            chains: &record.chains,
            sources: &record.sources,
        })
        .expect("encodes");
        assert_eq!(viewed, crate::encode(&record).expect("encodes"));
        let back: Vec<StoredTouchpoint> = borrowed.iter().map(|t| t.to_stored()).collect();
        assert_eq!(back, record.touchpoints);
    }
}
