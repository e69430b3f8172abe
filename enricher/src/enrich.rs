//! One valid touchpoint in, one enriched touchpoint (or a rejection) out. Pure: the catalogue
//! and the bindings are passed in; the new binding to write to the changelog is returned.
//!
//! The program of an event is, in order: the program owning its landing URL's domain (an
//! event whose landing domain belongs to no program is rejected); for events without a URL,
//! the program of its link, else of its code, else of its customer's binding. An event with
//! none of these is rejected: it cannot be attributed to anything.

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
    /// The landing URL's domain belongs to no program.
    UnknownDomain(String),
    /// No URL, and no link, code or customer binding names a program.
    NoProgram,
}

impl Rejection {
    /// Dead-letter reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::UnknownDomain(_) => "unknown_domain",
            Rejection::NoProgram => "no_program",
        }
    }

    /// Human-readable detail.
    pub fn detail(&self) -> String {
        match self {
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
        .and_then(|c| bindings.lookup(at.partition, at.offset, c));
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
    let referrer = tp.referrer.as_deref().map(UrlParts::parse);
    let program = program_of(&tp, landing.as_ref(), catalog, bindings, at)?;

    // Identity.
    let customer = tp.customer_id.as_deref().unwrap_or_default();
    let (key, key_source, new_binding) = match (tp.visitor_id.as_deref(), tp.customer_id.as_deref())
    {
        (Some(visitor), Some(customer_id)) => {
            let new = bindings
                .bind(
                    at.partition,
                    at.offset,
                    customer_id,
                    &program.program_id,
                    visitor,
                )
                .map(|b| IdentityBinding {
                    customer_id: customer_id.to_string(),
                    program_id: b.program_id,
                    visitor_id: b.visitor_id,
                    source_partition: at.partition,
                    source_offset: at.offset,
                    event_id: tp.event_id.clone(),
                    bound_at: tp.occurred_at,
                });
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
            .lookup(at.partition, at.offset, customer)
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
    let referrer_host = referrer.as_ref().and_then(|r| r.host.as_deref());
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
        touchpoint: tp,
    };
    Ok(Enriched {
        record,
        key_source,
        new_binding,
    })
}
