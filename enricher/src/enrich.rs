//! One valid touchpoint in, one enriched touchpoint (or a rejection) out. Pure: the catalogue
//! and the bindings are passed in; the new binding to write to the changelog is returned.
//!
//! The program of an event is, in order: the `program_id` its producer gave (it must exist);
//! the program owning its landing URL's domain (an event whose landing domain belongs to no
//! program is rejected); for events without a URL, the program of its link, else of its
//! code, else of its customer's binding. An event with none of these is rejected: it cannot
//! be attributed to anything.

use chrono::{DateTime, Utc};
use reference::Catalog;
use schemas::reference::Program;
use schemas::touchpoint::{EnrichedTouchpoint, ResolvedBy, ValidTouchpoint};
use schemas::IdentityBinding;

use crate::channel::{classify, ChannelInput};
use crate::identity::{attribution_key, Bindings, KeySource};
use crate::partner::{resolve, Claims};
use crate::url_parts::UrlParts;

/// Why an event cannot be enriched (the dead letter's reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The event names a program the reference data does not have.
    UnknownProgram(String),
    /// The landing URL's domain belongs to no program.
    UnknownDomain(String),
    /// No URL, and no link, code or customer binding names a program.
    NoProgram,
}

impl Rejection {
    /// Dead-letter reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::UnknownProgram(_) => "unknown_program",
            Rejection::UnknownDomain(_) => "unknown_domain",
            Rejection::NoProgram => "no_program",
        }
    }

    /// Human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            Rejection::UnknownProgram(id) => {
                format!("program_id {id:?} is not a program in the reference data")
            }
            Rejection::UnknownDomain(host) => {
                format!("landing domain {host:?} belongs to no program in the reference data")
            }
            Rejection::NoProgram => {
                "no landing URL, and no known link, code or customer binding names a program".into()
            }
        }
    }
}

/// Where the input came from: bindings are per partition and ordered by offset.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    /// Input partition.
    pub partition: i32,
    /// Input offset.
    pub offset: i64,
}

/// The result of enriching one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Enriched {
    /// The output record.
    pub record: EnrichedTouchpoint,
    /// How the attribution key was found.
    pub key_source: KeySource,
    /// A new customer → visitor binding to write to the changelog.
    pub new_binding: Option<IdentityBinding>,
}

fn program_of<'c>(
    tp: &ValidTouchpoint,
    landing: Option<&UrlParts>,
    catalog: &'c Catalog,
    bindings: &Bindings,
    at: Position,
) -> Result<&'c Program, Rejection> {
    if let Some(id) = tp.program_id.as_deref() {
        return catalog
            .program(id)
            .ok_or_else(|| Rejection::UnknownProgram(id.to_string()));
    }
    if let Some(parts) = landing {
        let host = parts.host.clone().unwrap_or_default();
        return catalog
            .program_for_host(&host)
            .ok_or(Rejection::UnknownDomain(host));
    }
    let by_link = tp.link_id.as_deref().and_then(|l| catalog.link(l));
    let by_code = tp.code.as_deref().and_then(|c| catalog.code(c));
    let by_binding = tp
        .customer_id
        .as_deref()
        .and_then(|c| bindings.lookup(at.offset, c));
    by_link
        .map(|l| l.program_id.as_str())
        .or(by_code.map(|c| c.program_id.as_str()))
        .or(by_binding.map(|b| b.program_id.as_str()))
        .and_then(|id| catalog.program(id))
        .ok_or(Rejection::NoProgram)
}

/// Enriches `tp`, read at `at`, against `catalog`, binding its customer when it carries both
/// ids. `referral_parameters` are the landing-URL parameters that name a partner, in order.
pub fn enrich(
    tp: ValidTouchpoint,
    at: Position,
    catalog: &Catalog,
    bindings: &mut Bindings,
    referral_parameters: &[String],
    now: DateTime<Utc>,
) -> Result<Enriched, Rejection> {
    let landing = tp.url.as_deref().map(UrlParts::parse);
    let referrer = tp.referrer.as_deref().map(UrlParts::host_of);
    let program = program_of(&tp, landing.as_ref(), catalog, bindings, at)?;

    // Identity.
    let customer = tp.customer_id.as_deref().unwrap_or_default();
    let (key, key_source, new_binding) = match (tp.visitor_id.as_deref(), tp.customer_id.as_deref())
    {
        (Some(visitor), Some(customer_id)) => {
            let new = bindings.bind(
                (at.partition, at.offset),
                customer_id,
                &program.program_id,
                visitor,
                (&tp.event_id, tp.occurred_at),
            );
            (
                attribution_key(&program.program_id, Some(visitor), customer),
                KeySource::Visitor,
                new,
            )
        }
        (Some(visitor), None) => (
            attribution_key(&program.program_id, Some(visitor), customer),
            KeySource::Visitor,
            None,
        ),
        (None, _) => match bindings
            .lookup(at.offset, customer)
            .filter(|b| b.program_id == program.program_id)
        {
            Some(bound) => (
                attribution_key(&program.program_id, Some(&bound.visitor_id), customer),
                KeySource::Binding,
                None,
            ),
            None => (
                attribution_key(&program.program_id, None, customer),
                KeySource::CustomerOnly,
                None,
            ),
        },
    };

    // Partner.
    let referral = landing
        .as_ref()
        .and_then(|l| l.first_of(referral_parameters))
        .map(|(_, value)| value);
    let partner = resolve(
        catalog,
        program,
        &Claims {
            link_id: tp.link_id.as_deref(),
            referral,
            code: tp.code.as_deref(),
            shared_id: tp.shared_id.as_deref(),
            occurred_at: tp.occurred_at,
        },
    );

    // UTM (the link's campaign fills a missing utm_campaign), click ids, channel.
    let mut utm = landing.as_ref().map(UrlParts::utm).unwrap_or_default();
    if utm.campaign.is_none() {
        utm.campaign = partner
            .link_id
            .as_deref()
            .filter(|_| partner.partner_id.is_some())
            .and_then(|l| catalog.link(l))
            .and_then(|l| l.campaign.clone());
    }
    let ad_click_ids = landing
        .as_ref()
        .map(UrlParts::ad_click_ids)
        .unwrap_or_default();
    let referrer_host = referrer.as_ref().and_then(Option::as_deref);
    let channel = classify(&ChannelInput {
        has_url: landing.is_some(),
        referrer_host,
        referrer_is_internal: referrer_host
            .and_then(|h| catalog.program_for_host(h))
            .is_some_and(|p| p.program_id == program.program_id),
        utm: &utm,
        has_ad_click_id: !ad_click_ids.is_empty(),
        partner_link: partner.partner_id.is_some()
            && matches!(
                partner.resolved_by,
                ResolvedBy::Link | ResolvedBy::QueryParameter
            ),
    });

    let record = EnrichedTouchpoint {
        program_id: program.program_id.clone(),
        attribution_key: key,
        landing_domain: landing.and_then(|l| l.host),
        channel,
        utm,
        ad_click_ids,
        partner,
        enriched_at: now,
        // Stamped by the service, which knows the partition and its progress.
        source: None,
        touchpoint: tp,
    };
    Ok(Enriched {
        record,
        key_source,
        new_binding,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use schemas::touchpoint::{Channel, EventKind};

    use super::*;

    const FILE: &str = r#"
[[programs]]
id = "acme"
brand = "Acme"
domains = ["acme.example", "acme-shop.de"]
currency = "EUR"
[[programs]]
id = "bolt"
brand = "Bolt"
domains = ["bolt.example"]
currency = "USD"
[[partners]]
id = "p1"
name = "P1"
status = "verified"
[[links]]
id = "l1"
partner = "p1"
program = "bolt"
campaign = "launch"
[[codes]]
code = "ACME5"
partner = "p1"
program = "acme"
"#;

    fn catalog() -> Catalog {
        Catalog::from_set(&reference::parse(FILE).expect("valid"))
    }

    fn tp(kind: EventKind) -> ValidTouchpoint {
        let at = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        ValidTouchpoint::new("e", kind, at)
    }

    fn run(
        t: ValidTouchpoint,
        bindings: &mut Bindings,
        offset: i64,
    ) -> Result<Enriched, Rejection> {
        let at = Position {
            partition: 0,
            offset,
        };
        enrich(
            t,
            at,
            &catalog(),
            bindings,
            &["ref".to_string()],
            Utc::now(),
        )
    }

    #[test]
    fn the_program_comes_from_the_event_then_the_domain_then_link_code_or_binding() {
        let mut b = Bindings::default();
        let program =
            |t: ValidTouchpoint, b: &mut Bindings| run(t, b, 10).map(|e| e.record.program_id);
        let mut explicit = tp(EventKind::Lead);
        explicit.program_id = Some("bolt".into());
        explicit.url = Some("https://acme.example/".into());
        assert_eq!(
            program(explicit, &mut b).as_deref(),
            Ok("bolt"),
            "the producer's program_id wins"
        );
        let mut by_domain = tp(EventKind::PageView);
        by_domain.url = Some("https://WWW.Shop.ACME-shop.de./x".into());
        assert_eq!(
            program(by_domain, &mut b).as_deref(),
            Ok("acme"),
            "case, www., subdomain, trailing dot"
        );
        let mut by_link = tp(EventKind::Conversion);
        by_link.link_id = Some("l1".into());
        assert_eq!(program(by_link, &mut b).as_deref(), Ok("bolt"));
        let mut by_code = tp(EventKind::Conversion);
        by_code.code = Some("acme5".into());
        assert_eq!(program(by_code, &mut b).as_deref(), Ok("acme"));
        let mut unknown = tp(EventKind::PageView);
        unknown.url = Some("https://acme.example.evil.com/".into());
        assert_eq!(
            program(unknown, &mut b),
            Err(Rejection::UnknownDomain("acme.example.evil.com".into()))
        );
        let mut bad_program = tp(EventKind::Lead);
        bad_program.program_id = Some("nope".into());
        assert_eq!(
            program(bad_program, &mut b),
            Err(Rejection::UnknownProgram("nope".into()))
        );
        assert_eq!(
            program(tp(EventKind::Refund), &mut b),
            Err(Rejection::NoProgram)
        );
    }

    #[test]
    fn a_lead_binds_and_a_later_customer_only_refund_reaches_its_visitor() {
        let mut b = Bindings::default();
        let mut lead = tp(EventKind::Lead);
        lead.program_id = Some("acme".into());
        lead.visitor_id = Some("v-9".into());
        lead.customer_id = Some("c-9".into());
        let bound = run(lead, &mut b, 5).expect("lead");
        let binding = bound.new_binding.expect("a new binding for the changelog");
        assert_eq!(
            (binding.visitor_id.as_str(), binding.source_offset),
            ("v-9", 5)
        );
        let mut refund = tp(EventKind::Refund);
        refund.customer_id = Some("c-9".into());
        let r = run(refund.clone(), &mut b, 6).expect("refund");
        assert_eq!(r.record.attribution_key, "acme/v-9");
        assert_eq!(r.key_source, KeySource::Binding);
        assert_eq!(
            r.record.channel,
            Channel::Unknown,
            "server-side: no URL, no referrer"
        );
        refund.customer_id = Some("c-unknown".into());
        refund.program_id = Some("acme".into());
        let r = run(refund, &mut b, 7).expect("refund");
        assert_eq!(r.record.attribution_key, "acme/customer:c-unknown");
        assert_eq!(r.key_source, KeySource::CustomerOnly);
    }

    #[test]
    fn a_link_click_carries_utm_defaults_click_ids_and_its_channel() {
        let mut click = tp(EventKind::Click);
        click.visitor_id = Some("v-1".into());
        click.url = Some("https://bolt.example/?ref=l1&msclkid=abc".into());
        click.referrer = Some("https://www.bing.com/".into());
        let e = run(click, &mut Bindings::default(), 1)
            .expect("click")
            .record;
        assert_eq!(e.partner.partner_id.as_deref(), Some("p1"));
        assert_eq!(e.utm.campaign.as_deref(), Some("launch"));
        assert_eq!(e.ad_click_ids[0].parameter, "msclkid");
        assert_eq!(e.channel, Channel::Paid);
        assert_eq!(e.landing_domain.as_deref(), Some("bolt.example"));
    }
}
