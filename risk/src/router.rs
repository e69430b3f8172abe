//! The router half of the service: enriched touchpoints and attributions (keyed by person) in,
//! risk signals keyed by program out, so that one scorer partition sees all of a program's
//! clicks, conversions and attributions in one order. Stateless and pure: the same input
//! record always gives the same signal, which is what lets the scorer drop re-forwarded copies
//! by source position.

use schemas::attribution::Attribution;
use schemas::risk_signal::{ClickSignal, ConversionContext, RiskSignal};
use schemas::touchpoint::{EnrichedTouchpoint, EventKind};

/// Where a record was read.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

fn signal(source: Source<'_>, program_id: &str, at: chrono::DateTime<chrono::Utc>) -> RiskSignal {
    RiskSignal {
        program_id: program_id.into(),
        source_topic: source.topic.into(),
        source_partition: source.partition,
        source_offset: source.offset,
        occurred_at: at,
        click: None,
        conversion: None,
        attribution: None,
    }
}

/// The signal of an enriched touchpoint, if risk needs it: partner clicks (for click
/// flooding) and conversions (their device, IP, user agent and referrer, which the
/// attribution does not carry). Other kinds are not forwarded.
pub fn from_touchpoint(source: Source<'_>, tp: &EnrichedTouchpoint) -> Option<RiskSignal> {
    let t = &tp.touchpoint;
    let mut out = signal(source, &tp.program_id, t.occurred_at);
    match t.kind {
        EventKind::Click => {
            out.click = Some(ClickSignal {
                event_id: t.event_id.clone(),
                partner_id: tp.partner.partner_id.clone()?,
                shared_id: tp.partner.shared_id.clone(),
            });
        }
        EventKind::Conversion => {
            out.conversion = Some(ConversionContext {
                event_id: t.event_id.clone(),
                attribution_key: tp.attribution_key.clone(),
                customer_id: t.customer_id.clone(),
                ip_hash: t.ip_hash.clone(),
                ip_prefix: t.ip_prefix.clone(),
                user_agent: t.user_agent.clone(),
                referrer: t.referrer.clone(),
            });
        }
        _ => return None,
    }
    Some(out)
}

/// The signal of an attribution: its bytes as read, keyed by its program.
pub fn from_attribution(source: Source<'_>, a: &Attribution, bytes: &[u8]) -> RiskSignal {
    let mut out = signal(source, &a.program_id, a.occurred_at);
    out.attribution = Some(bytes.to_vec());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::examples;

    const SRC: Source<'static> = Source {
        topic: "t",
        partition: 1,
        offset: 7,
    };

    #[test]
    fn partner_clicks_and_conversions_are_forwarded_others_are_not() {
        let mut tp = examples::enriched_touchpoint();
        tp.touchpoint.kind = EventKind::Click;
        let s = from_touchpoint(SRC, &tp).expect("a partner click");
        assert_eq!(
            s.click.expect("test data is valid").partner_id,
            tp.partner.partner_id.clone().expect("test data is valid")
        );
        assert_eq!((s.source_partition, s.source_offset), (1, 7));
        tp.partner.partner_id = None;
        assert!(
            from_touchpoint(SRC, &tp).is_none(),
            "a click without partner"
        );
        tp.touchpoint.kind = EventKind::Conversion;
        let s = from_touchpoint(SRC, &tp).expect("a conversion");
        assert_eq!(
            s.conversion.expect("test data is valid").event_id,
            tp.touchpoint.event_id
        );
        tp.touchpoint.kind = EventKind::PageView;
        assert!(from_touchpoint(SRC, &tp).is_none());
    }

    #[test]
    fn an_attribution_travels_as_read() {
        let a = examples::attribution();
        let bytes = schemas::encode(&a).expect("test data is valid");
        let s = from_attribution(SRC, &a, &bytes);
        assert_eq!(s.program_id, a.program_id);
        assert_eq!(s.attribution.as_deref(), Some(bytes.as_slice()));
    }
}
