//! Stripe intake (pure): the `Stripe-Signature` check and the mapping of Stripe events to raw
//! events. Stripe is the brand's billing system; its webhook events become the conversions,
//! renewals and refunds ingest already understands, with Stripe's own ids as event and order
//! ids, so a Stripe retry is a repeat ingest drops and a refund finds its order.
//!
//! Mapping (every event id is `stripe:<evt id>`, time is the event's `created`):
//! - `checkout.session.completed`, mode `payment`, paid: a **conversion** of `amount_total`,
//!   order id the payment intent (what a later refund names), customer the Stripe customer or,
//!   for a guest, `pi:<payment intent>` — so the refund, which has no visitor, is keyed to the
//!   same person;
//! - `checkout.session.completed`, mode `subscription`: a **lead** binding the Stripe customer
//!   to the referral (the money arrives with the invoice);
//! - `invoice.paid` of a subscription: billing reason `subscription_create` is the chain's
//!   first **conversion** (`chain_seq` 1), `subscription_cycle` a **renewal** whose place in
//!   the chain the attributor counts (`chain_seq` left out); the chain is the subscription,
//!   the order the invoice. Other billing reasons (prorations, manual invoices) and invoices of
//!   nothing are acknowledged and counted, not forwarded;
//! - `charge.refunded`: a **refund** of what this event refunded (`amount_refunded` minus its
//!   previous value), order id the invoice or payment intent the charge paid.
//!
//! The referral comes from the session's `client_reference_id` (the first-party visitor id
//! the checkout page passed) and metadata `attrib_visitor_id`, `attrib_link_id`,
//! `attrib_code`, `attrib_click_id`, `attrib_shared_id` — on the session, or for subscriptions
//! created without Checkout on the subscription (`subscription_details.metadata` of the
//! invoice). Every other event type is acknowledged and counted, never rejected: Stripe
//! retries what is refused, for days.

use chrono::{DateTime, TimeZone, Utc};
use schemas::money::Currency;
use serde_json::{json, Map, Value};

/// How far a signature's timestamp may be from now (Stripe's libraries default to 300 s).
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a Stripe request is refused (400, Stripe retries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeError {
    /// No or unreadable `Stripe-Signature` header.
    MissingSignature,
    /// The timestamp is outside the tolerance (a replay, or a badly skewed clock).
    Stale {
        /// Seconds between the signature's timestamp and now.
        age_seconds: i64,
    },
    /// No `v1` signature matches any of the program's secrets.
    BadSignature,
    /// Signed, but not an event this mapping can read.
    Unreadable(String),
}

impl std::fmt::Display for StripeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StripeError::MissingSignature => f.write_str("no readable Stripe-Signature header (t=…,v1=…)"),
            StripeError::Stale { age_seconds } => write!(
                f,
                "the signature's timestamp is {age_seconds} s from now; at most {TOLERANCE_SECONDS} s are accepted"
            ),
            StripeError::BadSignature => f.write_str(
                "the Stripe-Signature does not match this program's endpoint secret",
            ),
            StripeError::Unreadable(why) => write!(f, "not a Stripe event this endpoint can read: {why}"),
        }
    }
}

/// Checks `header` (`t=…,v1=…[,v1=…]`) over `body` against any of `secrets` (an endpoint
/// secret, `whsec_…`, used whole as the HMAC key, as Stripe does; several while one rolls).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[String],
    now: DateTime<Utc>,
) -> Result<(), StripeError> {
    let header = header.ok_or(StripeError::MissingSignature)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(StripeError::MissingSignature)?;
    if signatures.is_empty() {
        return Err(StripeError::MissingSignature);
    }
    let age_seconds = now.timestamp() - timestamp;
    if age_seconds.abs() > TOLERANCE_SECONDS {
        return Err(StripeError::Stale { age_seconds });
    }
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let matches = secrets.iter().any(|secret| {
        let expected = runtime::secret::hmac_hex(secret.as_bytes(), &signed);
        signatures
            .iter()
            .any(|s| runtime::secret::constant_time_eq(expected.as_bytes(), s.as_bytes()))
    });
    if matches {
        Ok(())
    } else {
        Err(StripeError::BadSignature)
    }
}

/// What a verified Stripe event became.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// A raw event for the raw topic.
    Event(Value),
    /// Acknowledged and counted, not forwarded; the label says why.
    Ignored(&'static str),
}

fn text<'v>(object: &'v Value, field: &str) -> Option<&'v str> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn int(object: &Value, field: &str) -> Option<i64> {
    object.get(field).and_then(Value::as_i64)
}

/// Stripe's integer amount in the currency's minor unit, as ingest's decimal string.
fn amount(minor: i64, currency: &str) -> Result<String, StripeError> {
    let code = currency.to_ascii_uppercase();
    let c = Currency::from_code(&code)
        .ok_or_else(|| StripeError::Unreadable(format!("currency {currency:?} is not ISO 4217")))?;
    Ok(c.from_minor(minor).to_string())
}

/// The referral fields carried by `metadata` (and a checkout's `client_reference_id`).
fn referral(event: &mut Map<String, Value>, metadata: Option<&Value>, reference: Option<&str>) {
    if let Some(visitor) = reference {
        event.insert("visitor_id".into(), json!(visitor));
    }
    let Some(metadata) = metadata else { return };
    for (key, field) in [
        ("attrib_visitor_id", "visitor_id"),
        ("attrib_link_id", "link_id"),
        ("attrib_code", "code"),
        ("attrib_click_id", "click_id"),
        ("attrib_shared_id", "shared_id"),
    ] {
        if let Some(value) = text(metadata, key) {
            event.insert(field.into(), json!(value));
        }
    }
}

/// Maps a verified Stripe event (the request body) to a raw event.
pub fn map(body: &[u8]) -> Result<Mapped, StripeError> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| StripeError::Unreadable(format!("not JSON: {e}")))?;
    let id = text(&event, "id").ok_or_else(|| StripeError::Unreadable("no event id".into()))?;
    let kind =
        text(&event, "type").ok_or_else(|| StripeError::Unreadable("no event type".into()))?;
    let created = int(&event, "created")
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .ok_or_else(|| StripeError::Unreadable("no event time (`created`)".into()))?;
    let object = event
        .pointer("/data/object")
        .ok_or_else(|| StripeError::Unreadable("no data.object".into()))?;
    let mut raw = Map::new();
    raw.insert("event_id".into(), json!(format!("stripe:{id}")));
    raw.insert(
        "occurred_at".into(),
        json!(created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    let mapped = match kind {
        "checkout.session.completed" => checkout(object, &mut raw)?,
        "invoice.paid" => invoice(object, &mut raw)?,
        "charge.refunded" => refund(object, event.pointer("/data/previous_attributes"), &mut raw)?,
        _ => return Ok(Mapped::Ignored("unhandled_type")),
    };
    Ok(match mapped {
        Some(()) => Mapped::Event(Value::Object(raw)),
        None => Mapped::Ignored(ignored_label(kind)),
    })
}

/// Every [`Mapped::Ignored`] label (metric labels present from the start).
pub const IGNORED_LABELS: [&str; 4] = [
    "unhandled_type",
    "checkout_unpaid",
    "invoice_not_a_subscription_payment",
    "refund_of_nothing",
];

fn ignored_label(kind: &str) -> &'static str {
    match kind {
        "checkout.session.completed" => "checkout_unpaid",
        "invoice.paid" => "invoice_not_a_subscription_payment",
        _ => "refund_of_nothing",
    }
}

fn missing(field: &str) -> StripeError {
    StripeError::Unreadable(format!("`{field}` is missing"))
}

fn checkout(session: &Value, raw: &mut Map<String, Value>) -> Result<Option<()>, StripeError> {
    let customer = text(session, "customer");
    referral(
        raw,
        session.get("metadata"),
        text(session, "client_reference_id"),
    );
    match text(session, "mode") {
        Some("subscription") => {
            let customer = customer.ok_or_else(|| missing("customer"))?;
            raw.insert("kind".into(), json!("lead"));
            raw.insert("customer_id".into(), json!(customer));
            Ok(Some(()))
        }
        Some("payment") => {
            if text(session, "payment_status") != Some("paid") {
                // Delayed payment methods: `checkout.session.async_payment_succeeded` follows.
                return Ok(None);
            }
            let intent =
                text(session, "payment_intent").ok_or_else(|| missing("payment_intent"))?;
            let total = int(session, "amount_total").ok_or_else(|| missing("amount_total"))?;
            let currency = text(session, "currency").ok_or_else(|| missing("currency"))?;
            raw.insert("kind".into(), json!("conversion"));
            raw.insert("order_id".into(), json!(intent));
            raw.insert("amount".into(), json!(amount(total, currency)?));
            raw.insert("currency".into(), json!(currency.to_ascii_uppercase()));
            let person = customer.map_or_else(|| format!("pi:{intent}"), str::to_string);
            raw.insert("customer_id".into(), json!(person));
            Ok(Some(()))
        }
        _ => Ok(None),
    }
}

fn invoice(invoice: &Value, raw: &mut Map<String, Value>) -> Result<Option<()>, StripeError> {
    let subscription = text(invoice, "subscription").or_else(|| {
        invoice
            .pointer("/parent/subscription_details/subscription")
            .and_then(Value::as_str)
    });
    let Some(subscription) = subscription else {
        return Ok(None);
    };
    let seq = match text(invoice, "billing_reason") {
        Some("subscription_create") => Some(1),
        Some("subscription_cycle") => None,
        _ => return Ok(None),
    };
    let paid = int(invoice, "amount_paid").ok_or_else(|| missing("amount_paid"))?;
    if paid <= 0 {
        return Ok(None); // a trial's free invoice: nothing was bought
    }
    let currency = text(invoice, "currency").ok_or_else(|| missing("currency"))?;
    let customer = text(invoice, "customer").ok_or_else(|| missing("customer"))?;
    let id = text(invoice, "id").ok_or_else(|| missing("id"))?;
    let metadata = invoice
        .pointer("/subscription_details/metadata")
        .or_else(|| invoice.pointer("/parent/subscription_details/metadata"));
    referral(raw, metadata, None);
    raw.insert("kind".into(), json!("conversion"));
    raw.insert("customer_id".into(), json!(customer));
    raw.insert("order_id".into(), json!(id));
    raw.insert("amount".into(), json!(amount(paid, currency)?));
    raw.insert("currency".into(), json!(currency.to_ascii_uppercase()));
    raw.insert("chain_id".into(), json!(subscription));
    if let Some(seq) = seq {
        raw.insert("chain_seq".into(), json!(seq));
    }
    Ok(Some(()))
}

fn refund(
    charge: &Value,
    previous: Option<&Value>,
    raw: &mut Map<String, Value>,
) -> Result<Option<()>, StripeError> {
    let total = int(charge, "amount_refunded").ok_or_else(|| missing("amount_refunded"))?;
    let before = previous
        .and_then(|p| int(p, "amount_refunded"))
        .unwrap_or(0);
    let refunded = total - before;
    if refunded <= 0 {
        return Ok(None);
    }
    let currency = text(charge, "currency").ok_or_else(|| missing("currency"))?;
    let intent = text(charge, "payment_intent");
    let order = text(charge, "invoice")
        .or(intent)
        .ok_or_else(|| missing("invoice or payment_intent"))?;
    let person = match (text(charge, "customer"), intent) {
        (Some(customer), _) => customer.to_string(),
        (None, Some(intent)) => format!("pi:{intent}"),
        (None, None) => return Err(missing("customer or payment_intent")),
    };
    raw.insert("kind".into(), json!("refund"));
    raw.insert("customer_id".into(), json!(person));
    raw.insert("order_id".into(), json!(order));
    raw.insert("amount".into(), json!(amount(refunded, currency)?));
    raw.insert("currency".into(), json!(currency.to_ascii_uppercase()));
    Ok(Some(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_331_200, 0).unwrap()
    }

    fn header(body: &[u8], t: i64, secret: &str) -> String {
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        format!(
            "t={t},v1={},v0=deadbeef",
            runtime::secret::hmac_hex(secret.as_bytes(), &signed)
        )
    }

    #[test]
    fn a_signature_verifies_only_for_its_secret_body_and_time() {
        let body = br#"{"id":"evt_1"}"#;
        let t = now().timestamp();
        let secrets = vec!["whsec_old".to_string(), SECRET.to_string()];
        assert_eq!(
            verify(Some(&header(body, t, SECRET)), body, &secrets, now()),
            Ok(())
        );
        let tampered = br#"{"id":"evt_2"}"#;
        assert_eq!(
            verify(Some(&header(body, t, SECRET)), tampered, &secrets, now()),
            Err(StripeError::BadSignature)
        );
        assert_eq!(
            verify(Some(&header(body, t, "whsec_other")), body, &secrets, now()),
            Err(StripeError::BadSignature)
        );
        assert_eq!(
            verify(Some(&header(body, t - 301, SECRET)), body, &secrets, now()),
            Err(StripeError::Stale { age_seconds: 301 })
        );
        for bad in [None, Some(""), Some("t=abc,v1=00"), Some(&format!("t={t}"))] {
            assert_eq!(
                verify(bad, body, &secrets, now()),
                Err(StripeError::MissingSignature),
                "{bad:?}"
            );
        }
    }

    fn event(kind: &str, object: Value, previous: Option<Value>) -> Vec<u8> {
        let mut data = json!({ "object": object });
        if let Some(p) = previous {
            data["previous_attributes"] = p;
        }
        serde_json::to_vec(&json!({
            "id": "evt_9", "object": "event", "type": kind, "created": 1_764_331_000, "data": data
        }))
        .unwrap()
    }

    fn raw(mapped: Mapped) -> Value {
        match mapped {
            Mapped::Event(v) => v,
            Mapped::Ignored(why) => panic!("ignored: {why}"),
        }
    }

    #[test]
    fn a_paid_checkout_is_a_conversion_keyed_for_its_refund() {
        let session = json!({
            "id": "cs_1", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "payment_intent": "pi_7", "amount_total": 4999, "currency": "eur", "customer": null,
            "client_reference_id": "v-123", "metadata": {"attrib_code": "SUMMER", "other": "x"}
        });
        let e = raw(map(&event("checkout.session.completed", session, None)).unwrap());
        assert_eq!(e["kind"], "conversion");
        assert_eq!(e["event_id"], "stripe:evt_9");
        assert_eq!(e["occurred_at"], "2025-11-28T11:56:40Z");
        assert_eq!(
            (&e["order_id"], &e["amount"], &e["currency"]),
            (&json!("pi_7"), &json!("49.99"), &json!("EUR"))
        );
        assert_eq!(
            (&e["visitor_id"], &e["code"], &e["customer_id"]),
            (&json!("v-123"), &json!("SUMMER"), &json!("pi:pi_7"))
        );

        let charge = json!({
            "id": "ch_1", "object": "charge", "amount": 4999, "amount_refunded": 1500, "currency": "eur",
            "payment_intent": "pi_7", "customer": null, "invoice": null
        });
        let r = raw(map(&event(
            "charge.refunded",
            charge.clone(),
            Some(json!({"amount_refunded": 0})),
        ))
        .unwrap());
        assert_eq!(
            (&r["kind"], &r["order_id"], &r["amount"], &r["customer_id"]),
            (
                &json!("refund"),
                &json!("pi_7"),
                &json!("15.00"),
                &json!("pi:pi_7")
            )
        );
        let mut second = charge;
        second["amount_refunded"] = json!(4999);
        let r = raw(map(&event(
            "charge.refunded",
            second,
            Some(json!({"amount_refunded": 1500})),
        ))
        .unwrap());
        assert_eq!(r["amount"], "34.99", "only what this event refunded");
    }

    #[test]
    fn zero_decimal_currencies_keep_their_unit() {
        let session = json!({
            "mode": "payment", "payment_status": "paid", "payment_intent": "pi_j",
            "amount_total": 5000, "currency": "jpy", "customer": "cus_1"
        });
        let e = raw(map(&event("checkout.session.completed", session, None)).unwrap());
        assert_eq!(
            (&e["amount"], &e["customer_id"]),
            (&json!("5000"), &json!("cus_1"))
        );
    }

    #[test]
    fn a_subscription_is_a_lead_then_a_first_invoice_then_counted_renewals() {
        let session = json!({
            "mode": "subscription", "customer": "cus_5", "subscription": "sub_5",
            "client_reference_id": "v-9", "metadata": {"attrib_link_id": "l-anna"}
        });
        let lead = raw(map(&event("checkout.session.completed", session, None)).unwrap());
        assert_eq!(
            (
                &lead["kind"],
                &lead["customer_id"],
                &lead["visitor_id"],
                &lead["link_id"]
            ),
            (
                &json!("lead"),
                &json!("cus_5"),
                &json!("v-9"),
                &json!("l-anna")
            )
        );

        let invoice = |reason: &str, id: &str, paid: i64| {
            json!({
                "id": id, "object": "invoice", "billing_reason": reason, "subscription": "sub_5",
                "customer": "cus_5", "amount_paid": paid, "currency": "usd",
                "subscription_details": {"metadata": {"attrib_visitor_id": "v-9"}}
            })
        };
        let first = raw(map(&event(
            "invoice.paid",
            invoice("subscription_create", "in_1", 2000),
            None,
        ))
        .unwrap());
        assert_eq!(
            (
                &first["chain_id"],
                &first["chain_seq"],
                &first["order_id"],
                &first["amount"]
            ),
            (&json!("sub_5"), &json!(1), &json!("in_1"), &json!("20.00"))
        );
        assert_eq!(first["visitor_id"], "v-9");
        let renewal = raw(map(&event(
            "invoice.paid",
            invoice("subscription_cycle", "in_2", 2000),
            None,
        ))
        .unwrap());
        assert_eq!(renewal["chain_id"], "sub_5");
        assert!(
            renewal.get("chain_seq").is_none(),
            "the attributor numbers renewals"
        );
        assert_eq!(
            map(&event(
                "invoice.paid",
                invoice("subscription_update", "in_3", 500),
                None
            )),
            Ok(Mapped::Ignored("invoice_not_a_subscription_payment"))
        );
        assert_eq!(
            map(&event(
                "invoice.paid",
                invoice("subscription_create", "in_0", 0),
                None
            )),
            Ok(Mapped::Ignored("invoice_not_a_subscription_payment"))
        );
    }

    #[test]
    fn other_types_are_acknowledged_and_broken_events_named() {
        assert_eq!(
            map(&event("customer.created", json!({}), None)),
            Ok(Mapped::Ignored("unhandled_type"))
        );
        let unpaid = json!({"mode": "payment", "payment_status": "unpaid"});
        assert_eq!(
            map(&event("checkout.session.completed", unpaid, None)),
            Ok(Mapped::Ignored("checkout_unpaid"))
        );
        assert!(matches!(map(b"[]"), Err(StripeError::Unreadable(_))));
        let no_amount =
            json!({"mode": "payment", "payment_status": "paid", "payment_intent": "pi"});
        assert_eq!(
            map(&event("checkout.session.completed", no_amount, None)),
            Err(StripeError::Unreadable("`amount_total` is missing".into()))
        );
    }
}
