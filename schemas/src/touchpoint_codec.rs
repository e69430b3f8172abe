//! Hand-written Avro bodies of the touchpoints every event becomes ([`crate::binary`]):
//! `ValidTouchpoint` as `valid_touchpoint.v2.avsc` lays it out, `EnrichedTouchpoint` as
//! `enriched_touchpoint.v3.avsc` does. Fields in schema order; the tests below hold both to the
//! compiled codec byte for byte.

use crate::binary::{HandCodec, Reader, Writer};
use crate::codec::CodecError;
use crate::touchpoint::{
    AdClickId, Channel, EnrichedTouchpoint, EventKind, IngestPath, PartnerResolution,
    PartnerStatus, ResolvedBy, SourceProgress, Utm, ValidTouchpoint,
};

/// `ValidTouchpoint`, version 2.
pub static VALID_TOUCHPOINT: HandCodec<ValidTouchpoint> = HandCodec {
    file: "valid_touchpoint.v2.avsc",
    write: write_valid,
    read: read_valid,
};

/// `EnrichedTouchpoint`, version 3 (its touchpoint is a version 2 `ValidTouchpoint`).
pub static ENRICHED_TOUCHPOINT: HandCodec<EnrichedTouchpoint> = HandCodec {
    file: "enriched_touchpoint.v3.avsc",
    write: write_enriched,
    read: read_enriched,
};

const INGEST_PATHS: [IngestPath; 2] = [IngestPath::Stream, IngestPath::Import];
const CHANNELS: [Channel; 7] = [
    Channel::Referral,
    Channel::Paid,
    Channel::OrganicSearch,
    Channel::Social,
    Channel::Email,
    Channel::Direct,
    Channel::Unknown,
];
const PARTNER_STATUSES: [PartnerStatus; 3] = [
    PartnerStatus::Pending,
    PartnerStatus::Verified,
    PartnerStatus::Suspended,
];
const RESOLVED_BY: [ResolvedBy; 4] = [
    ResolvedBy::Link,
    ResolvedBy::Code,
    ResolvedBy::QueryParameter,
    ResolvedBy::None,
];

fn write_valid(t: &ValidTouchpoint, w: &mut Writer) {
    w.string(&t.event_id);
    w.symbol_of(&EventKind::ALL, &t.kind);
    w.millis(&t.occurred_at);
    w.millis(&t.received_at);
    for field in [
        &t.visitor_id,
        &t.customer_id,
        &t.click_id,
        &t.url,
        &t.referrer,
        &t.link_id,
        &t.code,
        &t.shared_id,
        &t.ip_hash,
        &t.ip_prefix,
        &t.ip,
        &t.user_agent,
        &t.order_id,
    ] {
        w.optional_string(field.as_deref());
    }
    w.optional(t.amount_minor, Writer::long);
    w.optional_string(t.currency.as_deref());
    w.optional_string(t.chain_id.as_deref());
    w.optional(t.chain_seq, |w, seq| w.long(i64::from(seq)));
    w.symbol_of(&INGEST_PATHS, &t.ingest_path);
    w.optional_string(t.program_id.as_deref());
}

fn read_valid(r: &mut Reader<'_>) -> Result<ValidTouchpoint, CodecError> {
    Ok(ValidTouchpoint {
        event_id: r.string()?,
        kind: r.symbol_of(&EventKind::ALL)?,
        occurred_at: r.millis()?,
        received_at: r.millis()?,
        visitor_id: r.optional_string()?,
        customer_id: r.optional_string()?,
        click_id: r.optional_string()?,
        url: r.optional_string()?,
        referrer: r.optional_string()?,
        link_id: r.optional_string()?,
        code: r.optional_string()?,
        shared_id: r.optional_string()?,
        ip_hash: r.optional_string()?,
        ip_prefix: r.optional_string()?,
        ip: r.optional_string()?,
        user_agent: r.optional_string()?,
        order_id: r.optional_string()?,
        amount_minor: r.optional(Reader::long)?,
        currency: r.optional_string()?,
        chain_id: r.optional_string()?,
        chain_seq: r.optional(Reader::int)?,
        ingest_path: r.symbol_of(&INGEST_PATHS)?,
        program_id: r.optional_string()?,
    })
}

fn write_enriched(e: &EnrichedTouchpoint, w: &mut Writer) {
    write_valid(&e.touchpoint, w);
    w.string(&e.program_id);
    w.string(&e.attribution_key);
    w.optional_string(e.landing_domain.as_deref());
    w.symbol_of(&CHANNELS, &e.channel);
    for field in [
        &e.utm.source,
        &e.utm.medium,
        &e.utm.campaign,
        &e.utm.term,
        &e.utm.content,
    ] {
        w.optional_string(field.as_deref());
    }
    w.array(&e.ad_click_ids, |w, id| {
        w.string(&id.parameter);
        w.string(&id.value);
    });
    let p = &e.partner;
    w.optional_string(p.partner_id.as_deref());
    w.optional(p.partner_status, |w, s| {
        w.symbol_of(&PARTNER_STATUSES, &s);
    });
    w.symbol_of(&RESOLVED_BY, &p.resolved_by);
    for field in [&p.link_id, &p.code, &p.shared_id, &p.unresolved_reason] {
        w.optional_string(field.as_deref());
    }
    w.millis(&e.enriched_at);
    w.optional(e.source.as_ref(), |w, s| {
        w.long(i64::from(s.partition));
        w.long(i64::from(s.partitions));
        w.millis(&s.progress);
    });
}

fn read_enriched(r: &mut Reader<'_>) -> Result<EnrichedTouchpoint, CodecError> {
    Ok(EnrichedTouchpoint {
        touchpoint: read_valid(r)?,
        program_id: r.string()?,
        attribution_key: r.string()?,
        landing_domain: r.optional_string()?,
        channel: r.symbol_of(&CHANNELS)?,
        utm: Utm {
            source: r.optional_string()?,
            medium: r.optional_string()?,
            campaign: r.optional_string()?,
            term: r.optional_string()?,
            content: r.optional_string()?,
        },
        ad_click_ids: r.array(|r| {
            Ok(AdClickId {
                parameter: r.string()?,
                value: r.string()?,
            })
        })?,
        partner: PartnerResolution {
            partner_id: r.optional_string()?,
            partner_status: r.optional(|r| r.symbol_of(&PARTNER_STATUSES))?,
            resolved_by: r.symbol_of(&RESOLVED_BY)?,
            link_id: r.optional_string()?,
            code: r.optional_string()?,
            shared_id: r.optional_string()?,
            unresolved_reason: r.optional_string()?,
        },
        enriched_at: r.millis()?,
        source: r.optional(|r| {
            Ok(SourceProgress {
                partition: r.int()?,
                partitions: r.int()?,
                progress: r.millis()?,
            })
        })?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::codec::{decode, decode_as, encode, encode_as, AvroMessage};

    pub(crate) fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z0-9._/-]{1,24}",
            any::<String>(),
            "[\u{80}-\u{10FFFF}]{1,8}",
            // Long enough for a two-byte length.
            "[a-z]{100,300}",
        ]
    }

    pub(crate) fn maybe() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    pub(crate) fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (-62_000_000_000_000i64..250_000_000_000_000i64),
            Just(0i64),
            Just(-1i64),
        ]
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in range"))
    }

    prop_compose! {
        fn valid()(
            event_id in text(),
            kind in proptest::sample::select(EventKind::ALL.to_vec()),
            at in (instant(), instant()),
            strings in proptest::collection::vec(maybe(), 16),
            amount_minor in proptest::option::of(any::<i64>()),
            chain_seq in proptest::option::of(any::<i32>()),
            ingest_path in proptest::sample::select(INGEST_PATHS.to_vec()),
        ) -> ValidTouchpoint {
            let mut s = strings.into_iter();
            let mut next = || s.next().flatten();
            ValidTouchpoint {
                event_id, kind, occurred_at: at.0, received_at: at.1,
                visitor_id: next(), customer_id: next(), click_id: next(), url: next(),
                referrer: next(), link_id: next(), code: next(), shared_id: next(),
                ip_hash: next(), ip_prefix: next(), ip: next(), user_agent: next(),
                order_id: next(), amount_minor, currency: next(), chain_id: next(), chain_seq,
                ingest_path, program_id: next(),
            }
        }
    }

    prop_compose! {
        fn enriched()(
            touchpoint in valid(),
            program_id in text(),
            attribution_key in text(),
            strings in proptest::collection::vec(maybe(), 11),
            channel in proptest::sample::select(CHANNELS.to_vec()),
            ad_click_ids in proptest::collection::vec((text(), text()), 0..4),
            partner_status in proptest::option::of(proptest::sample::select(PARTNER_STATUSES.to_vec())),
            resolved_by in proptest::sample::select(RESOLVED_BY.to_vec()),
            enriched_at in instant(),
            source in proptest::option::of((any::<i32>(), any::<i32>(), instant())),
        ) -> EnrichedTouchpoint {
            let mut s = strings.into_iter();
            let mut next = || s.next().flatten();
            EnrichedTouchpoint {
                touchpoint, program_id, attribution_key, landing_domain: next(), channel,
                utm: Utm { source: next(), medium: next(), campaign: next(), term: next(), content: next() },
                ad_click_ids: ad_click_ids.into_iter().map(|(parameter, value)| AdClickId { parameter, value }).collect(),
                partner: PartnerResolution {
                    partner_id: next(), partner_status, resolved_by, link_id: next(), code: next(),
                    shared_id: next(), unresolved_reason: next(),
                },
                enriched_at,
                source: source.map(|(partition, partitions, progress)| SourceProgress { partition, partitions, progress }),
            }
        }
    }

    /// The hand codec writes the compiled codec's bytes and reads them back to the value, and
    /// reads every strict prefix of them as an error, never a panic.
    pub(crate) fn same_as_compiled<T: AvroMessage + PartialEq + std::fmt::Debug>(value: &T) {
        let compiled = encode_as::<T, T>(value).expect("compiled codec encodes");
        let hand = encode(value).expect("hand codec encodes");
        assert_eq!(hand, compiled);
        assert_eq!(&decode::<T>(&compiled).expect("hand codec decodes"), value);
        assert_eq!(&decode_as::<T, T>(&hand).expect("compiled decodes"), value);
        for cut in [compiled.len() - 1, compiled.len() / 2, 11] {
            if cut < compiled.len() {
                assert!(
                    decode::<T>(&compiled[..cut]).is_err(),
                    "prefix of {cut} bytes"
                );
            }
        }
        let mut longer = compiled.clone();
        longer.push(0);
        assert!(decode::<T>(&longer).is_err(), "a trailing byte");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn valid_touchpoints_are_written_and_read_as_the_compiled_codec_does(t in valid()) {
            same_as_compiled(&t);
        }

        #[test]
        fn enriched_touchpoints_are_written_and_read_as_the_compiled_codec_does(e in enriched()) {
            same_as_compiled(&e);
        }
    }

    #[test]
    fn each_hand_codec_is_for_its_types_current_version() {
        // A new schema version falls back to the compiled codec until its hand codec is
        // written; this fails first, so the slow path is never shipped by accident.
        assert_eq!(
            ValidTouchpoint::family().current().file,
            VALID_TOUCHPOINT.file
        );
        assert_eq!(
            EnrichedTouchpoint::family().current().file,
            ENRICHED_TOUCHPOINT.file
        );
    }

    #[test]
    fn older_versions_still_decode_through_the_compiled_schema() {
        // Version 1 of ValidTouchpoint has no program_id: the hand codec must not read it.
        let v1 = &ValidTouchpoint::family().versions[0];
        assert_ne!(v1.file, VALID_TOUCHPOINT.file);
        let at = DateTime::from_timestamp_millis(1_780_000_000_123).expect("in range");
        let t = ValidTouchpoint::new("e-1", EventKind::Click, at);
        let mut bytes = Vec::from(crate::codec::MARKER);
        bytes.extend_from_slice(&v1.fingerprint.to_le_bytes());
        let body = encode(&t).expect("encodes");
        // v2 appends program_id (`None`: one zero byte) after v1's last field.
        bytes.extend_from_slice(&body[crate::codec::HEADER_LEN..body.len() - 1]);
        let read: ValidTouchpoint = decode(&bytes).expect("v1 decodes");
        assert_eq!(read, t);
    }
}
