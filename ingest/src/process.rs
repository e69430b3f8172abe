//! Validation and normalisation of one raw JSON event (the contract in
//! `schemas/json/raw-event.schema.json`). Pure: no I/O, no clock (the caller passes `now`).
//!
//! Invariant: a message either becomes exactly one [`ValidTouchpoint`] whose every field
//! satisfies the contract (money exact in minor units, time UTC, URLs parsed, codes
//! normalised, IP handled per policy), or exactly one [`Rejection`] with a stable reason code
//! naming the first problem found. Nothing is guessed: an amount finer than the currency's
//! minor unit, a JSON number for money, or a timestamp without an offset is refused, not
//! rounded or assumed.

use std::net::IpAddr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use schemas::money::{parse_decimal, Currency, MoneyError};
use schemas::touchpoint::IngestPath;
use schemas::{EventKind, ValidTouchpoint};
use url::Url;

use crate::pii::IpPolicy;
use crate::raw_json::{self, Field, Message, Object};
use crate::reason::{Reason, Rejection};

/// Longest `event_id`.
pub const EVENT_ID_CHARS_MAX: usize = 128;
/// Longest identifier (visitor, customer, click, link, order, chain, shared id).
pub const IDENTIFIER_CHARS_MAX: usize = 256;
/// Longest URL or referrer.
pub const URL_CHARS_MAX: usize = 4096;
/// Longest user agent.
pub const USER_AGENT_CHARS_MAX: usize = 1024;
/// Longest code.
pub const CODE_CHARS_MAX: usize = 64;

/// What validation depends on besides the message.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Messages larger than this are rejected unread.
    pub message_bytes_max: usize,
    /// How far in the future `occurred_at` may be (clock skew of producers).
    pub future_skew: Duration,
    /// IP handling.
    pub ip_policy: IpPolicy,
}

/// Validates one raw message received at `now`.
pub fn validate(
    bytes: &[u8],
    rules: &Rules,
    now: DateTime<Utc>,
    path: IngestPath,
) -> Result<ValidTouchpoint, Rejection> {
    if bytes.len() > rules.message_bytes_max {
        return Err(Rejection::new(
            Reason::MessageTooLarge,
            format!(
                "message is {} bytes; the limit is {} (INGEST_MESSAGE_BYTES_MAX)",
                bytes.len(),
                rules.message_bytes_max
            ),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::new(
            Reason::EmptyMessage,
            "message has no content",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            Reason::InvalidUtf8,
            format!(
                "message is not UTF-8 (invalid byte at position {})",
                e.valid_up_to()
            ),
        )
    })?;
    let object = match raw_json::parse(text) {
        Ok(Message::Object(object)) => object,
        Ok(Message::Other(json_type)) => {
            return Err(Rejection::new(
                Reason::NotAnObject,
                format!("message is a JSON {json_type}, not an object"),
            ))
        }
        Err(e) => {
            return Err(Rejection::new(
                Reason::InvalidJson,
                format!("message is not JSON: {e}"),
            ))
        }
    };
    let fields = Fields { object: &object };
    // Read the event id first, leniently, so every later rejection can carry it.
    let event_id = match object.get("event_id") {
        Some(Field::Str(id)) => Some(id.to_string()),
        _ => None,
    };
    validate_object(&fields, rules, now, path).map_err(|mut rejection| {
        rejection.event_id = event_id;
        rejection
    })
}

fn validate_object(
    fields: &Fields<'_>,
    rules: &Rules,
    now: DateTime<Utc>,
    path: IngestPath,
) -> Result<ValidTouchpoint, Rejection> {
    let kind_name = fields.required_str("kind", "every event")?;
    let kind = EventKind::parse(kind_name).ok_or_else(|| {
        Rejection::new(
            Reason::UnknownKind,
            format!(
                "kind {kind_name:?} is not one of click, page_view, code_redemption, lead, conversion, refund"
            ),
        )
    })?;
    let for_kind = kind.as_str();

    let event_id = fields.required_str("event_id", "every event")?;
    if event_id.chars().count() > EVENT_ID_CHARS_MAX || event_id.chars().any(char::is_control) {
        return Err(Rejection::new(
            Reason::InvalidEventId,
            format!("event_id must be at most {EVENT_ID_CHARS_MAX} characters without control characters"),
        ));
    }

    let occurred_at = timestamp(
        fields.required_str("occurred_at", "every event")?,
        now,
        rules,
    )?;

    let visitor_id = fields.identifier("visitor_id")?;
    let customer_id = fields.identifier("customer_id")?;
    if visitor_id.is_none() && customer_id.is_none() {
        return Err(Rejection::new(
            Reason::MissingIdentity,
            "an event needs visitor_id or customer_id (or both)",
        ));
    }

    let url = match kind {
        EventKind::Click | EventKind::PageView => {
            Some(landing_url(fields.required_str("url", for_kind)?)?)
        }
        _ => fields.optional_str("url")?.map(landing_url).transpose()?,
    };
    let referrer = fields
        .optional_str("referrer")?
        .map(referrer_url)
        .transpose()?;
    let code = match kind {
        EventKind::CodeRedemption => Some(normalise_code(fields.required_str("code", for_kind)?)?),
        _ => fields
            .optional_str("code")?
            .map(normalise_code)
            .transpose()?,
    };

    let (order_id, amount_minor, currency) = match kind {
        EventKind::Conversion | EventKind::Refund => {
            let order_id = fields.required_str("order_id", for_kind)?;
            check_text("order_id", order_id, IDENTIFIER_CHARS_MAX)?;
            let currency = currency(fields.required_str("currency", for_kind)?)?;
            let amount = amount(fields, for_kind, kind, currency)?;
            (
                Some(order_id.to_string()),
                Some(amount),
                Some(currency.code().to_string()),
            )
        }
        _ => (fields.identifier("order_id")?, None, None),
    };

    let (chain_id, chain_seq) = chain(fields, kind)?;

    let ip = match fields.optional_str("ip")? {
        Some(raw) => {
            let parsed: IpAddr = raw.parse().map_err(|_| {
                Rejection::new(
                    Reason::InvalidIp,
                    format!("ip {raw:?} is not an IPv4 or IPv6 address"),
                )
            })?;
            rules.ip_policy.apply(parsed)
        }
        None => Default::default(),
    };
    let user_agent = fields.optional_str("user_agent")?;
    if let Some(ua) = user_agent {
        check_text("user_agent", ua, USER_AGENT_CHARS_MAX)?;
    }

    Ok(ValidTouchpoint {
        event_id: event_id.to_string(),
        kind,
        occurred_at,
        received_at: now,
        visitor_id,
        customer_id,
        click_id: fields.identifier("click_id")?,
        url,
        referrer,
        link_id: fields.identifier("link_id")?,
        code,
        shared_id: fields.identifier("shared_id")?,
        ip_hash: ip.hash,
        ip_prefix: ip.prefix,
        ip: ip.raw,
        user_agent: user_agent.map(str::to_string),
        order_id,
        amount_minor,
        currency,
        chain_id,
        chain_seq,
        ingest_path: path,
        program_id: fields.identifier("program_id")?,
    })
}

/// Typed access to the JSON object's fields with contract-shaped errors.
struct Fields<'a> {
    object: &'a Object<'a>,
}

impl<'a> Fields<'a> {
    /// A string field; `null`, absent and blank are all "absent".
    fn optional_str(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        match self.object.get(name) {
            None | Some(Field::Null) => Ok(None),
            Some(Field::Str(s)) => {
                let trimmed = s.trim();
                Ok((!trimmed.is_empty()).then_some(trimmed))
            }
            Some(other) => Err(Rejection::new(
                Reason::WrongType,
                format!("{name} must be a string, not a JSON {}", other.json_type()),
            )),
        }
    }

    fn required_str(&self, name: &str, required_by: &str) -> Result<&'a str, Rejection> {
        self.optional_str(name)?.ok_or_else(|| {
            Rejection::new(
                Reason::MissingField,
                format!("{name} is required for {required_by}"),
            )
        })
    }

    /// An optional identifier: bounded length, no control characters.
    fn identifier(&self, name: &str) -> Result<Option<String>, Rejection> {
        self.optional_str(name)?
            .map(|v| check_text(name, v, IDENTIFIER_CHARS_MAX).map(|()| v.to_string()))
            .transpose()
    }
}

fn check_text(name: &str, value: &str, chars_max: usize) -> Result<(), Rejection> {
    if value.chars().count() > chars_max {
        return Err(Rejection::new(
            Reason::FieldTooLong,
            format!("{name} is longer than {chars_max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Rejection::new(
            Reason::InvalidCharacters,
            format!("{name} contains control characters"),
        ));
    }
    Ok(())
}

fn timestamp(text: &str, now: DateTime<Utc>, rules: &Rules) -> Result<DateTime<Utc>, Rejection> {
    let parsed = DateTime::parse_from_rfc3339(text).map_err(|e| {
        Rejection::new(
            Reason::InvalidTimestamp,
            format!("occurred_at {text:?} is not an RFC 3339 timestamp with an offset ({e})"),
        )
    })?;
    let at = parsed.with_timezone(&Utc);
    if at > now + rules.future_skew {
        return Err(Rejection::new(
            Reason::TimestampInFuture,
            format!(
                "occurred_at {at} is more than {} s ahead of ingest's clock ({now})",
                rules.future_skew.num_seconds()
            ),
        ));
    }
    let floor = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    if at < floor {
        return Err(Rejection::new(
            Reason::TimestampTooOld,
            format!("occurred_at {at} is before 2000-01-01"),
        ));
    }
    Ok(at)
}

/// Parses a URL, adding `https://` when the producer left the scheme out.
fn parse_url(text: &str) -> Result<Url, url::ParseError> {
    match Url::parse(text) {
        // "shop.example.com:8080/x" parses with scheme "shop.example.com": a host, really.
        Ok(url) if url.scheme().contains('.') => Url::parse(&format!("https://{text}")),
        Ok(url) => Ok(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => Url::parse(&format!("https://{text}")),
        Err(e) => Err(e),
    }
}

fn landing_url(text: &str) -> Result<String, Rejection> {
    check_text("url", text, URL_CHARS_MAX)?;
    match crate::plain_url::landing(text) {
        Some(plain) => Ok(plain.to_string()),
        None => landing_url_parsed(text),
    }
}

/// [`landing_url`] through the WHATWG parser.
fn landing_url_parsed(text: &str) -> Result<String, Rejection> {
    let bad = |why: String| Rejection::new(Reason::InvalidUrl, format!("url {text:?} {why}"));
    let url = parse_url(text).map_err(|e| bad(format!("does not parse ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "has scheme {:?}; landing pages are http or https",
            url.scheme()
        )));
    }
    match url.host_str() {
        Some(host) if !host.is_empty() => Ok(url.to_string()),
        _ => Err(bad("has no host".into())),
    }
}

/// The referrer reduced to where the visitor came from: scheme and host (and port). Its path,
/// query and fragment are dropped — they carry search terms, session tokens and e-mail
/// addresses — and every later stage (channel, coupon-site rules) needs only the host.
fn referrer_url(text: &str) -> Result<String, Rejection> {
    check_text("referrer", text, URL_CHARS_MAX)?;
    match crate::plain_url::referrer(text) {
        Some(plain) => Ok(plain),
        None => referrer_url_parsed(text),
    }
}

/// [`referrer_url`] through the WHATWG parser.
fn referrer_url_parsed(text: &str) -> Result<String, Rejection> {
    // Referrers may be app links (android-app://...) as well as web pages.
    let mut url = parse_url(text).map_err(|e| {
        Rejection::new(
            Reason::InvalidReferrer,
            format!("referrer {text:?} does not parse ({e})"),
        )
    })?;
    if url.host_str().is_none() {
        return Err(Rejection::new(
            Reason::InvalidReferrer,
            format!("referrer {text:?} names no host"),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    url.set_path("/");
    // Credentials in a URL are never anyone's business downstream; a host URL accepts both.
    let _ignored = url.set_username("");
    let _ignored = url.set_password(None);
    Ok(String::from(url))
}

fn normalise_code(text: &str) -> Result<String, Rejection> {
    let code = text.to_ascii_uppercase();
    let valid = code.len() <= CODE_CHARS_MAX
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(code)
    } else {
        Err(Rejection::new(
            Reason::InvalidCode,
            format!("code {text:?} must be 1-{CODE_CHARS_MAX} characters of A-Z, 0-9, '-', '_' (case-insensitive)"),
        ))
    }
}

fn currency(text: &str) -> Result<Currency, Rejection> {
    Currency::from_code(&text.to_ascii_uppercase()).ok_or_else(|| {
        Rejection::new(
            Reason::UnknownCurrency,
            format!("currency {text:?} is not an active ISO 4217 code"),
        )
    })
}

fn amount(
    fields: &Fields<'_>,
    for_kind: &str,
    kind: EventKind,
    currency: Currency,
) -> Result<i64, Rejection> {
    let text = match fields.object.get("amount") {
        Some(Field::Number(n)) => {
            return Err(Rejection::new(
                Reason::WrongType,
                format!("amount must be a decimal string like \"19.99\", not the JSON number {n}: binary floats cannot hold every price exactly"),
            ))
        }
        _ => fields.required_str("amount", for_kind)?,
    };
    let value = parse_decimal(text)
        .map_err(|e| Rejection::new(Reason::InvalidAmount, format!("amount: {e}")))?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(Rejection::new(
            Reason::NegativeAmount,
            format!("amount {text} is negative; refunds carry a positive amount"),
        ));
    }
    if kind == EventKind::Refund && value.is_zero() {
        return Err(Rejection::new(
            Reason::ZeroRefund,
            "a refund must have an amount above zero",
        ));
    }
    currency.to_minor(value).map_err(|e| match e {
        MoneyError::TooPrecise { .. } => {
            Rejection::new(Reason::AmountTooPrecise, format!("amount: {e}"))
        }
        MoneyError::TooLarge(_) => Rejection::new(Reason::AmountTooLarge, format!("amount: {e}")),
        MoneyError::NotADecimal(_) => Rejection::new(Reason::InvalidAmount, format!("amount: {e}")),
    })
}

/// `chain_id` and `chain_seq`. A conversion may name its chain without a number: a renewal
/// whose place in the chain the attributor counts (billing systems rarely know it).
fn chain(fields: &Fields<'_>, kind: EventKind) -> Result<(Option<String>, Option<i32>), Rejection> {
    let chain_id = fields.identifier("chain_id")?;
    let chain_seq = match fields.object.get("chain_seq") {
        None | Some(Field::Null) => None,
        Some(Field::Number(n)) => match n.as_i64().and_then(|v| i32::try_from(v).ok()) {
            Some(seq) if seq >= 1 => Some(seq),
            _ => {
                return Err(Rejection::new(
                    Reason::InvalidChain,
                    format!(
                    "chain_seq {n} must be a whole number from 1 (1 = first action of the chain)"
                ),
                ))
            }
        },
        Some(other) => {
            return Err(Rejection::new(
                Reason::WrongType,
                format!(
                    "chain_seq must be a number, not a JSON {}",
                    other.json_type()
                ),
            ))
        }
    };
    match (&chain_id, chain_seq) {
        (None, Some(_)) => {
            return Err(Rejection::new(
                Reason::InvalidChain,
                "chain_seq needs the chain_id it counts in",
            ))
        }
        (Some(_), None) if kind != EventKind::Conversion => return Err(Rejection::new(
            Reason::InvalidChain,
            "chain_id without chain_seq is a renewal, and only conversions renew: give chain_seq",
        )),
        _ => {}
    }
    Ok((chain_id, chain_seq))
}

/// The output key (DESIGN.md §3): customer id when present, else visitor id, so the enricher
/// sees a customer's events in one partition to bind customer to visitor.
pub fn output_key(touchpoint: &ValidTouchpoint) -> Option<&str> {
    touchpoint
        .customer_id
        .as_deref()
        .or(touchpoint.visitor_id.as_deref())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::examples;
    use crate::pii::IpMode;
    use chrono::SecondsFormat;
    use serde_json::{json, Value};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Plain URLs take the short way to the parser's answer (the parser's own answer for
        /// everything else is what the other tests check).
        #[test]
        fn plain_urls_are_stored_as_the_whatwg_parser_stores_them(
            scheme in prop_oneof![6 => Just("https://"), 3 => Just("http://"), 1 => Just("HTTP://"), 1 => Just("ftp://")],
            host in prop_oneof![
                6 => "(www\\.)?([a-z0-9-]{1,8}\\.){0,3}[a-z][a-z0-9-]{0,4}\\.?",
                2 => "[a-z0-9.-]{0,3}[a-zA-Z0-9-]{1,8}(\\.[a-z0-9-]{0,6}){0,2}(:[0-9]{1,6})?",
            ],
            host_tail in prop_oneof![
                12 => Just(""), 1 => Just(".xn--caf-dma"), 1 => Just(".0x1f"), 1 => Just(".123"),
                1 => Just("@evil.example"), 1 => Just("ü"), 1 => Just(".."),
            ],
            path in prop_oneof![
                6 => "(/[a-zA-Z0-9%._~!$&()*+,;=:@-]{0,6}){0,3}",
                1 => "(/(\\.|\\.\\.|%2[eE]|[a-z]{1,3}|[ \"<>`{}|^']){0,2}){0,3}",
            ],
            query in proptest::option::of(prop_oneof![
                6 => "[a-zA-Z0-9_=&+%;/?.:@!$()*,~-]{0,24}",
                1 => "[a-z0-9_=& \"'<>`{}|^\\\\ü#-]{0,12}",
            ]),
            fragment in proptest::option::of("[a-zA-Z0-9_=&+%/?#<>\"`{} -]{0,16}"),
        ) {
            let mut url = format!("{scheme}{host}{host_tail}{path}");
            if let Some(query) = query {
                url.push('?');
                url.push_str(&query);
            }
            if let Some(fragment) = fragment {
                url.push('#');
                url.push_str(&fragment);
            }
            let parsed = |r: Result<String, Rejection>| r.map_err(|e| e.reason);
            prop_assert_eq!(parsed(landing_url(&url)), parsed(landing_url_parsed(&url)), "{}", url);
            prop_assert_eq!(parsed(referrer_url(&url)), parsed(referrer_url_parsed(&url)), "{}", url);
        }
    }

    #[test]
    fn plain_urls_are_recognised_and_others_are_not() {
        let plain = "https://www.shop.example/p/1?utm_source=x&ref=a%20b#top";
        assert_eq!(crate::plain_url::landing(plain), Some(plain));
        assert_eq!(
            crate::plain_url::referrer(plain).as_deref(),
            Some("https://www.shop.example/")
        );
        for other in [
            "https://shop.example",
            "https://shop.example?x=1",
            "https://shop.example/a/../b",
            "https://shop.example/%2E/b",
            "https://Shop.example/",
            "https://shop.example:8443/",
            "https://user@shop.example/",
            "https://192.168.0.1/",
            "https://xn--bcher-kva.example/",
            "https://shop.example/a b",
            "https://shop.example/{x}",
            "shop.example/p",
        ] {
            assert_eq!(crate::plain_url::landing(other), None, "{other}");
        }
    }

    fn rules() -> Rules {
        Rules {
            message_bytes_max: 4096,
            future_skew: Duration::minutes(5),
            ip_policy: IpPolicy::new(IpMode::Hash, b"test-key-0123456789"),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
            .single()
            .expect("valid")
    }

    fn check(value: Value) -> Result<ValidTouchpoint, Rejection> {
        validate(
            &serde_json::to_vec(&value).expect("json"),
            &rules(),
            now(),
            IngestPath::Stream,
        )
    }

    #[test]
    fn every_catalogued_bad_input_gets_its_reason_and_a_detail_naming_the_problem() {
        let catalogue = examples::bad_inputs(now(), "t", rules().message_bytes_max);
        assert!(catalogue.len() >= 25);
        for bad in catalogue {
            let rejection =
                validate(&bad.bytes, &rules(), now(), IngestPath::Stream).expect_err(bad.name);
            assert_eq!(
                rejection.reason, bad.reason,
                "{}: {}",
                bad.name, rejection.detail
            );
            assert!(
                rejection.detail.contains(bad.detail_mentions),
                "{}: detail {:?} should mention {:?}",
                bad.name,
                rejection.detail,
                bad.detail_mentions
            );
        }
    }

    #[test]
    fn every_kind_of_valid_event_is_accepted() {
        for event in examples::valid_events(now(), "t") {
            check(event.clone()).unwrap_or_else(|r| panic!("{event}: {r:?}"));
        }
    }

    #[test]
    fn a_rejection_carries_the_event_id_when_it_could_be_read() {
        let r = check(json!({"kind": "conversion", "event_id": "e-7", "occurred_at": "bad"}))
            .expect_err("bad timestamp");
        assert_eq!(r.event_id.as_deref(), Some("e-7"));
    }

    #[test]
    fn a_conversion_is_normalised_to_exact_minor_units_and_utc() {
        let t = check(json!({"kind": "conversion", "event_id": "e1",
            "occurred_at": "2026-06-01T13:30:00+02:00", "customer_id": " c-1 ",
            "order_id": "o-1", "amount": "129.90", "currency": "eur"}))
        .expect("valid");
        assert_eq!(t.amount_minor, Some(12_990));
        assert_eq!(t.currency.as_deref(), Some("EUR"));
        assert_eq!(
            t.occurred_at,
            Utc.with_ymd_and_hms(2026, 6, 1, 11, 30, 0)
                .single()
                .expect("valid")
        );
        assert_eq!(
            t.customer_id.as_deref(),
            Some("c-1"),
            "identifiers are trimmed"
        );
        assert_eq!(t.received_at, now());
    }

    #[test]
    fn a_renewal_may_leave_its_number_to_the_attributor() {
        let t = check(json!({"kind": "conversion", "event_id": "e9",
            "occurred_at": "2026-06-01T11:30:00Z", "customer_id": "c-1", "order_id": "in_2",
            "amount": "20.00", "currency": "USD", "chain_id": "sub_5"}))
        .expect("a counted renewal");
        assert_eq!((t.chain_id.as_deref(), t.chain_seq), (Some("sub_5"), None));
    }

    #[test]
    fn zero_decimal_and_three_decimal_currencies_keep_their_own_minor_units() {
        let conv = |amount: &str, currency: &str| {
            check(
                json!({"kind": "conversion", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
                "visitor_id": "v", "order_id": "o", "amount": amount, "currency": currency}),
            )
        };
        assert_eq!(conv("1500", "JPY").expect("yen").amount_minor, Some(1500));
        assert_eq!(
            conv("1.250", "KWD").expect("dinar").amount_minor,
            Some(1250)
        );
        assert_eq!(conv("0", "USD").expect("free trial").amount_minor, Some(0));
    }

    #[test]
    fn urls_are_parsed_and_normalised() {
        let view = |url: &str| {
            check(
                json!({"kind": "page_view", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
                "visitor_id": "v", "url": url}),
            )
            .map(|t| t.url.expect("url kept"))
        };
        // Encoded and duplicated parameters are kept as sent; IDN hosts become punycode.
        for (sent, stored) in [
            (
                "HTTPS://Shop.EXAMPLE.com/A?x=1#top",
                "https://shop.example.com/A?x=1#top",
            ),
            (
                "shop.example.com/p?utm_source=x",
                "https://shop.example.com/p?utm_source=x",
            ),
            ("shop.example.com:8080/p", "https://shop.example.com:8080/p"),
            ("https://bücher.example/", "https://xn--bcher-kva.example/"),
            (
                "https://shop.example.com/?q=%20a&q=b",
                "https://shop.example.com/?q=%20a&q=b",
            ),
        ] {
            assert_eq!(view(sent).expect(sent), stored, "{sent}");
        }
        assert_eq!(
            view("ftp://files.example.com/").expect_err("ftp").reason,
            Reason::InvalidUrl
        );
    }

    #[test]
    fn codes_are_trimmed_and_upper_cased() {
        let t = check(json!({"kind": "code_redemption", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
            "visitor_id": "v", "code": "  summer-10_b "}))
        .expect("valid");
        assert_eq!(t.code.as_deref(), Some("SUMMER-10_B"));
    }

    #[test]
    fn the_future_skew_is_a_sharp_boundary() {
        let at = |t: DateTime<Utc>| {
            check(json!({"kind": "lead", "event_id": "e", "visitor_id": "v",
                "occurred_at": t.to_rfc3339_opts(SecondsFormat::Millis, true)}))
        };
        assert!(at(now() + Duration::minutes(5)).is_ok());
        assert_eq!(
            at(now() + Duration::minutes(5) + Duration::milliseconds(1))
                .expect_err("too far")
                .reason,
            Reason::TimestampInFuture
        );
    }

    #[test]
    fn the_raw_ip_is_not_kept_by_default() {
        let t = check(
            json!({"kind": "click", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
            "visitor_id": "v", "url": "https://a.example/", "ip": "203.0.113.9"}),
        )
        .expect("valid");
        assert_eq!(t.ip, None);
        assert_eq!(t.ip_prefix.as_deref(), Some("203.0.113.0/24"));
        assert!(t.ip_hash.is_some());
    }

    #[test]
    fn only_the_referrers_host_is_kept() {
        let referrer = |r: &str| {
            check(
                json!({"kind": "page_view", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
                "visitor_id": "v", "url": "https://a.example/", "referrer": r}),
            )
        };
        let kept = |r: &str| referrer(r).expect("valid").referrer;
        assert_eq!(
            kept("https://www.google.com/search?q=jane.doe%40mail.example+divorce#top").as_deref(),
            Some("https://www.google.com/")
        );
        assert_eq!(
            kept("https://user:secret@mail.example:8443/inbox/42?token=abc").as_deref(),
            Some("https://mail.example:8443/")
        );
        assert_eq!(
            kept("android-app://com.google.android.gm/path").as_deref(),
            Some("android-app://com.google.android.gm/")
        );
        assert_eq!(
            referrer("urn:isbn:0451450523").expect_err("no host").reason,
            Reason::InvalidReferrer
        );
    }

    #[test]
    fn the_key_is_the_customer_when_known_else_the_visitor() {
        let mut t = check(
            json!({"kind": "lead", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
            "visitor_id": "v-1", "customer_id": "c-1"}),
        )
        .expect("valid");
        assert_eq!(output_key(&t), Some("c-1"));
        t.customer_id = None;
        assert_eq!(output_key(&t), Some("v-1"));
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        assert!(check(
            json!({"kind": "lead", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
            "visitor_id": "v", "campaign_cost": 12, "extra": {"nested": true}})
        )
        .is_ok());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_always_get_a_verdict(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _verdict = validate(&bytes, &rules(), now(), IngestPath::Stream);
        }

        #[test]
        fn any_two_decimal_usd_amount_round_trips_exactly(cents in 0i64..1_000_000_000_000) {
            let amount = format!("{}.{:02}", cents / 100, cents % 100);
            let t = check(json!({"kind": "conversion", "event_id": "e", "occurred_at": "2026-06-01T11:00:00Z",
                "visitor_id": "v", "order_id": "o", "amount": amount, "currency": "USD"})).expect("valid");
            proptest::prop_assert_eq!(t.amount_minor, Some(cents));
        }
    }
}
