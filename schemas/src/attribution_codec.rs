//! The hand-written Avro body of `Attribution` ([`crate::binary`]), as `attribution.v2.avsc`
//! lays it out: the attributor writes one per conversion and refund, and the risk scorer,
//! the webhooks and the analytics sink read them. Shares travel as decimal strings (the
//! `serde-str` form), read back through `rust_decimal`'s own serde visitor. The tests below hold
//! it to the compiled codec byte for byte.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::attribution::{
    Attribution, AttributionKind, AttributionModel, AttributionOutcome, AttributionWindow, Credit,
    Evidence, LosingClaim, ShadowCredit,
};
use crate::binary::{HandCodec, Reader, Writer};
use crate::codec::CodecError;

/// `Attribution`, version 2.
pub static ATTRIBUTION: HandCodec<Attribution> = HandCodec {
    file: "attribution.v2.avsc",
    write: write_attribution,
    read: read_attribution,
};

const KINDS: [AttributionKind; 2] = [AttributionKind::Conversion, AttributionKind::Refund];
const MODELS: [AttributionModel; 5] = [
    AttributionModel::LastTouch,
    AttributionModel::FirstTouch,
    AttributionModel::Linear,
    AttributionModel::TimeDecay,
    AttributionModel::PositionBased,
];
const OUTCOMES: [AttributionOutcome; 2] = [
    AttributionOutcome::Attributed,
    AttributionOutcome::Unattributed,
];
const WINDOWS: [AttributionWindow; 3] = [
    AttributionWindow::ClickThrough,
    AttributionWindow::ViewThrough,
    AttributionWindow::Code,
];

fn decimal(r: &mut Reader<'_>) -> Result<Decimal, CodecError> {
    let text = r.str()?;
    <Decimal as Deserialize>::deserialize(serde::de::value::BorrowedStrDeserializer::<
        serde::de::value::Error,
    >::new(text))
    .map_err(|e| CodecError::Avro(format!("malformed body: decimal {text:?}: {e}")))
}

fn write_attribution(a: &Attribution, w: &mut Writer) {
    w.string(&a.attribution_id);
    w.symbol_of(&KINDS, &a.kind);
    for field in [&a.program_id, &a.order_id, &a.event_id, &a.attribution_key] {
        w.string(field);
    }
    w.optional_string(a.customer_id.as_deref());
    w.millis(&a.occurred_at);
    w.millis(&a.attributed_at);
    w.long(a.amount_minor);
    w.string(&a.currency);
    w.optional_string(a.chain_id.as_deref());
    w.optional(a.chain_seq, |w, seq| w.long(i64::from(seq)));
    w.symbol_of(&MODELS, &a.model);
    w.symbol_of(&OUTCOMES, &a.outcome);
    w.optional_string(a.unattributed_reason.as_deref());
    w.array(&a.credits, |w, c| {
        w.string(&c.partner_id);
        w.optional_string(c.shared_id.as_deref());
        w.string(&c.share.to_string());
        w.string(&c.commission_id);
        w.long(c.commission_minor);
        w.optional_string(c.rule_id.as_deref());
        w.array(&c.touchpoint_ids, |w, id| w.string(id));
        w.long(c.revenue_minor);
        w.long(c.cap_reduction_minor);
        w.optional_string(c.reverses_commission_id.as_deref());
    });
    w.optional_string(a.reverses_attribution_id.as_deref());
    w.array(&a.evidence, |w, e| {
        w.string(&e.touchpoint_id);
        w.string(&e.kind);
        w.millis(&e.occurred_at);
        for field in [
            &e.partner_id,
            &e.click_id,
            &e.link_id,
            &e.code,
            &e.landing_domain,
            &e.channel,
            &e.utm_source,
            &e.utm_medium,
            &e.utm_campaign,
        ] {
            w.optional_string(field.as_deref());
        }
        w.symbol_of(&WINDOWS, &e.window);
    });
    w.array(&a.losing_claims, |w, l| {
        w.string(&l.partner_id);
        w.optional_string(l.touchpoint_id.as_deref());
        w.string(&l.reason);
    });
    w.array(&a.shadow_credits, |w, s| {
        w.symbol_of(&MODELS, &s.model);
        w.string(&s.partner_id);
        w.string(&s.share.to_string());
    });
    w.long(i64::from(a.late_touchpoints));
    w.long(a.commission_total_minor);
    w.long(a.click_window_seconds);
    w.long(a.view_window_seconds);
    w.optional_string(a.code_precedence.as_deref());
    w.optional_string(a.bound_attribution_id.as_deref());
}

fn read_attribution(r: &mut Reader<'_>) -> Result<Attribution, CodecError> {
    Ok(Attribution {
        attribution_id: r.string()?,
        kind: r.symbol_of(&KINDS)?,
        program_id: r.string()?,
        order_id: r.string()?,
        event_id: r.string()?,
        attribution_key: r.string()?,
        customer_id: r.optional_string()?,
        occurred_at: r.millis()?,
        attributed_at: r.millis()?,
        amount_minor: r.long()?,
        currency: r.string()?,
        chain_id: r.optional_string()?,
        chain_seq: r.optional(Reader::int)?,
        model: r.symbol_of(&MODELS)?,
        outcome: r.symbol_of(&OUTCOMES)?,
        unattributed_reason: r.optional_string()?,
        credits: r.array(|r| {
            Ok(Credit {
                partner_id: r.string()?,
                shared_id: r.optional_string()?,
                share: decimal(r)?,
                commission_id: r.string()?,
                commission_minor: r.long()?,
                rule_id: r.optional_string()?,
                touchpoint_ids: r.array(Reader::string)?,
                revenue_minor: r.long()?,
                cap_reduction_minor: r.long()?,
                reverses_commission_id: r.optional_string()?,
            })
        })?,
        reverses_attribution_id: r.optional_string()?,
        evidence: r.array(|r| {
            Ok(Evidence {
                touchpoint_id: r.string()?,
                kind: r.string()?,
                occurred_at: r.millis()?,
                partner_id: r.optional_string()?,
                click_id: r.optional_string()?,
                link_id: r.optional_string()?,
                code: r.optional_string()?,
                landing_domain: r.optional_string()?,
                channel: r.optional_string()?,
                utm_source: r.optional_string()?,
                utm_medium: r.optional_string()?,
                utm_campaign: r.optional_string()?,
                window: r.symbol_of(&WINDOWS)?,
            })
        })?,
        losing_claims: r.array(|r| {
            Ok(LosingClaim {
                partner_id: r.string()?,
                touchpoint_id: r.optional_string()?,
                reason: r.string()?,
            })
        })?,
        shadow_credits: r.array(|r| {
            Ok(ShadowCredit {
                model: r.symbol_of(&MODELS)?,
                partner_id: r.string()?,
                share: decimal(r)?,
            })
        })?,
        late_touchpoints: r.int()?,
        commission_total_minor: r.long()?,
        click_window_seconds: r.long()?,
        view_window_seconds: r.long()?,
        code_precedence: r.optional_string()?,
        bound_attribution_id: r.optional_string()?,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::AvroMessage;
    use crate::touchpoint_codec::tests::{instant, maybe, same_as_compiled, text};

    fn share() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
    }

    prop_compose! {
        fn credit()(
            partner_id in text(), strings in proptest::collection::vec(maybe(), 3),
            share in share(), commission_id in text(), amounts in any::<(i64, i64, i64)>(),
            touchpoint_ids in proptest::collection::vec(text(), 0..3),
        ) -> Credit {
            let mut s = strings.into_iter();
            let mut next = || s.next().flatten();
            Credit {
                partner_id, shared_id: next(), share, commission_id, commission_minor: amounts.0,
                rule_id: next(), touchpoint_ids, revenue_minor: amounts.1,
                cap_reduction_minor: amounts.2, reverses_commission_id: next(),
            }
        }
    }

    prop_compose! {
        fn evidence()(
            touchpoint_id in text(), kind in text(), occurred_at in instant(),
            strings in proptest::collection::vec(maybe(), 9),
            window in proptest::sample::select(WINDOWS.to_vec()),
        ) -> Evidence {
            let mut s = strings.into_iter();
            let mut next = || s.next().flatten();
            Evidence {
                touchpoint_id, kind, occurred_at, partner_id: next(), click_id: next(),
                link_id: next(), code: next(), landing_domain: next(), channel: next(),
                utm_source: next(), utm_medium: next(), utm_campaign: next(), window,
            }
        }
    }

    prop_compose! {
        fn attribution()(
            ids in proptest::collection::vec(text(), 6),
            strings in proptest::collection::vec(maybe(), 6),
            kind in proptest::sample::select(KINDS.to_vec()),
            model in proptest::sample::select(MODELS.to_vec()),
            outcome in proptest::sample::select(OUTCOMES.to_vec()),
            at in (instant(), instant()),
            numbers in any::<(i64, i64, i64, i64, i32)>(),
            chain_seq in proptest::option::of(any::<i32>()),
            credits in proptest::collection::vec(credit(), 0..3),
            evidence in proptest::collection::vec(evidence(), 0..3),
            losing_claims in proptest::collection::vec((text(), maybe(), text()), 0..3),
            shadow_credits in proptest::collection::vec(
                (proptest::sample::select(MODELS.to_vec()), text(), share()), 0..3),
        ) -> Attribution {
            let mut ids = ids.into_iter();
            let mut id = || ids.next().unwrap_or_default();
            let mut s = strings.into_iter();
            let mut next = || s.next().flatten();
            Attribution {
                attribution_id: id(), kind, program_id: id(), order_id: id(), event_id: id(),
                attribution_key: id(), customer_id: next(), occurred_at: at.0, attributed_at: at.1,
                amount_minor: numbers.0, currency: id(), chain_id: next(), chain_seq, model, outcome,
                unattributed_reason: next(), credits, reverses_attribution_id: next(), evidence,
                losing_claims: losing_claims.into_iter().map(|(partner_id, touchpoint_id, reason)| {
                    LosingClaim { partner_id, touchpoint_id, reason }
                }).collect(),
                shadow_credits: shadow_credits.into_iter().map(|(model, partner_id, share)| {
                    ShadowCredit { model, partner_id, share }
                }).collect(),
                late_touchpoints: numbers.4, commission_total_minor: numbers.1,
                click_window_seconds: numbers.2, view_window_seconds: numbers.3,
                code_precedence: next(), bound_attribution_id: next(),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn attributions_are_written_and_read_as_the_compiled_codec_does(a in attribution()) {
            same_as_compiled(&a);
        }
    }

    #[test]
    fn the_hand_codec_is_for_the_current_version() {
        assert_eq!(Attribution::family().current().file, ATTRIBUTION.file);
    }

    #[test]
    fn a_share_that_is_no_decimal_is_an_error() {
        let mut body = Vec::new();
        Writer::new(&mut body).string("twelve percent");
        assert!(decimal(&mut Reader::new(&body)).is_err());
    }
}
