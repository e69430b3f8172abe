//! Touchpoints after ingest (`ValidTouchpoint`) and after the enricher (`EnrichedTouchpoint`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// The six raw event kinds of the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A click on a referral link or ad.
    Click,
    /// A page view, usually UTM-tagged.
    PageView,
    /// A voucher or referral code entered at checkout.
    CodeRedemption,
    /// A sign-up or lead; binds customer to visitor when it carries both.
    Lead,
    /// A purchase or subscription payment.
    Conversion,
    /// Money returned for an earlier conversion.
    Refund,
}

impl EventKind {
    /// Every kind, in contract order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Click,
        EventKind::PageView,
        EventKind::CodeRedemption,
        EventKind::Lead,
        EventKind::Conversion,
        EventKind::Refund,
    ];

    /// The contract's name for the kind (`page_view`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Click => "click",
            EventKind::PageView => "page_view",
            EventKind::CodeRedemption => "code_redemption",
            EventKind::Lead => "lead",
            EventKind::Conversion => "conversion",
            EventKind::Refund => "refund",
        }
    }

    /// Parses the contract's name.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// How an event reached the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestPath {
    /// Consumed from the raw topic.
    Stream,
    /// Backfilled with `ingest import`.
    Import,
}

/// A raw event that passed validation, normalised. See `avro/valid_touchpoint.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidTouchpoint {
    /// Producer's idempotency key.
    pub event_id: String,
    /// Event kind.
    pub kind: EventKind,
    /// When it happened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// When ingest accepted it.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub received_at: DateTime<Utc>,
    /// First-party visitor id.
    pub visitor_id: Option<String>,
    /// Customer id from the brand's systems.
    pub customer_id: Option<String>,
    /// Tracking click id.
    pub click_id: Option<String>,
    /// Normalised landing URL.
    pub url: Option<String>,
    /// Normalised referrer URL.
    pub referrer: Option<String>,
    /// Referral link id.
    pub link_id: Option<String>,
    /// Normalised (trimmed, upper-case) code.
    pub code: Option<String>,
    /// Partner sub-source.
    pub shared_id: Option<String>,
    /// Keyed hash of the IP.
    pub ip_hash: Option<String>,
    /// Truncated network of the IP.
    pub ip_prefix: Option<String>,
    /// Raw IP, only when configured to keep it.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Order id (conversions, refunds).
    pub order_id: Option<String>,
    /// Amount in minor units (conversions, refunds).
    pub amount_minor: Option<i64>,
    /// ISO 4217 code (conversions, refunds).
    pub currency: Option<String>,
    /// Subscription chain id.
    pub chain_id: Option<String>,
    /// Position in the chain, 1 for the first action.
    pub chain_seq: Option<i32>,
    /// Stream or import.
    pub ingest_path: IngestPath,
    /// The program the producer says the event belongs to (v2).
    #[serde(default)]
    pub program_id: Option<String>,
}

impl ValidTouchpoint {
    /// A touchpoint with only its id, kind and time set (received at the same time, streamed):
    /// the starting point for producers, tests and generators, which fill in what they have.
    pub fn new(event_id: impl Into<String>, kind: EventKind, occurred_at: DateTime<Utc>) -> Self {
        ValidTouchpoint {
            event_id: event_id.into(),
            kind,
            occurred_at,
            received_at: occurred_at,
            visitor_id: None,
            customer_id: None,
            click_id: None,
            url: None,
            referrer: None,
            link_id: None,
            code: None,
            shared_id: None,
            ip_hash: None,
            ip_prefix: None,
            ip: None,
            user_agent: None,
            order_id: None,
            amount_minor: None,
            currency: None,
            chain_id: None,
            chain_seq: None,
            ingest_path: IngestPath::Stream,
            program_id: None,
        }
    }
}

avro_message!(
    ValidTouchpoint,
    "attrib.ValidTouchpoint",
    ["valid_touchpoint.v1.avsc", "valid_touchpoint.v2.avsc"],
    hand = crate::touchpoint_codec::VALID_TOUCHPOINT
);

/// Traffic channel derived from referrer and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A partner's link or referral.
    Referral,
    /// Paid ads (ad click ids, paid UTM medium).
    Paid,
    /// Search engines without ad click ids.
    OrganicSearch,
    /// Social networks.
    Social,
    /// Email campaigns.
    Email,
    /// No referrer.
    Direct,
    /// Nothing conclusive.
    Unknown,
}

/// UTM parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utm {
    /// utm_source
    pub source: Option<String>,
    /// utm_medium
    pub medium: Option<String>,
    /// utm_campaign
    pub campaign: Option<String>,
    /// utm_term
    pub term: Option<String>,
    /// utm_content
    pub content: Option<String>,
}

/// An ad platform click id found on the landing URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdClickId {
    /// Query parameter, e.g. `gclid`.
    pub parameter: String,
    /// Its value.
    pub value: String,
}

/// A partner's standing in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    /// Applied, not yet verified.
    Pending,
    /// Verified.
    Verified,
    /// Suspended: earns nothing.
    Suspended,
}

/// What resolved the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedBy {
    /// A referral link id.
    Link,
    /// A voucher or referral code.
    Code,
    /// A `ref`/`via`-style query parameter.
    QueryParameter,
    /// Nothing.
    None,
}

/// The partner an event points at, or why none was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerResolution {
    /// Partner id when resolved.
    pub partner_id: Option<String>,
    /// Partner status at enrichment time.
    pub partner_status: Option<PartnerStatus>,
    /// What resolved it.
    pub resolved_by: ResolvedBy,
    /// Link id used.
    pub link_id: Option<String>,
    /// Code used.
    pub code: Option<String>,
    /// SharedId (event's, else the link's default).
    pub shared_id: Option<String>,
    /// Why the named link/code/partner did not resolve.
    pub unresolved_reason: Option<String>,
}

/// A touchpoint with program, channel, UTM and partner. See `avro/enriched_touchpoint.v3.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichedTouchpoint {
    /// The validated event.
    pub touchpoint: ValidTouchpoint,
    /// Program whose domain it landed on.
    pub program_id: String,
    /// `<program_id>/<visitor_id>`.
    pub attribution_key: String,
    /// Landing host.
    pub landing_domain: Option<String>,
    /// Channel.
    pub channel: Channel,
    /// UTM parameters.
    pub utm: Utm,
    /// Ad click ids.
    pub ad_click_ids: Vec<AdClickId>,
    /// Partner resolution.
    pub partner: PartnerResolution,
    /// When the enricher produced it.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub enriched_at: DateTime<Utc>,
    /// The partition it was read from and that partition's progress (v3; `None` before).
    #[serde(default)]
    pub source: Option<SourceProgress>,
}

/// Where the enricher read a touchpoint, and how far that input partition had got in event
/// time: what a consumer merging several source partitions needs for a watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceProgress {
    /// Partition of the valid-touchpoint topic.
    pub partition: i32,
    /// That topic's partition count.
    pub partitions: i32,
    /// The largest `occurred_at` read from that partition so far, this record's included.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub progress: DateTime<Utc>,
}

/// How far behind the wall clock a source's event time may be for its traffic to count as live
/// (real-time, not a replay of history): the enricher broadcasts only a live source idle, and
/// the attributor's quiet clock waits longer for data that is not live.
pub const LIVE_LAG: chrono::Duration = chrono::Duration::minutes(5);

/// How far one source partition had got in event time, broadcast by the enricher to every
/// enriched partition between the touchpoints: a consumer merging sources hears each one's
/// progress even when it sends that partition no traffic (README "Event time is a watermark").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceWatermark {
    /// Partition of the valid-touchpoint topic.
    pub partition: i32,
    /// That topic's partition count.
    pub partitions: i32,
    /// The largest `occurred_at` read from that partition when this was written: every
    /// touchpoint of that source written before it is already on the partition it is on.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub progress: DateTime<Utc>,
    /// The source is live and has been quiet for a while: a merging consumer need not wait
    /// for it until it sends again.
    #[serde(default)]
    pub idle: bool,
    /// When the enricher wrote it (wall clock): for lag, never for attribution.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub emitted_at: DateTime<Utc>,
}

impl SourceWatermark {
    /// The record's key: one per source partition.
    pub fn key(&self) -> String {
        format!("watermark/{}", self.partition)
    }

    /// The progress it reports, as a touchpoint would carry it.
    pub fn source(&self) -> SourceProgress {
        SourceProgress {
            partition: self.partition,
            partitions: self.partitions,
            progress: self.progress,
        }
    }
}

avro_message!(
    SourceWatermark,
    "attrib.SourceWatermark",
    ["source_watermark.v1.avsc"]
);

/// One record of the enriched topic: a touchpoint, or a source's watermark between them.
#[derive(Debug, Clone, PartialEq)]
pub enum EnrichedRecord {
    /// An enriched touchpoint.
    Touchpoint(Box<EnrichedTouchpoint>),
    /// A source's progress (see [`SourceWatermark`]).
    Watermark(SourceWatermark),
}

impl EnrichedRecord {
    /// Decodes either kind by the schema its header names.
    pub fn decode(bytes: &[u8]) -> Result<EnrichedRecord, crate::CodecError> {
        if crate::codec::is::<SourceWatermark>(bytes) {
            return crate::decode(bytes).map(EnrichedRecord::Watermark);
        }
        crate::decode(bytes).map(|t| EnrichedRecord::Touchpoint(Box::new(t)))
    }
}

avro_message!(
    EnrichedTouchpoint,
    "attrib.EnrichedTouchpoint",
    [
        "enriched_touchpoint.v1.avsc",
        "enriched_touchpoint.v2.avsc",
        "enriched_touchpoint.v3.avsc"
    ],
    hand = crate::touchpoint_codec::ENRICHED_TOUCHPOINT
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_kinds_are_listed_in_declaration_order_so_they_can_index_counters() {
        for (i, kind) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "{kind:?}");
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
    }
}
