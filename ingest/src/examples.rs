//! Known inputs and the verdict ingest must reach for each: valid events of every kind and
//! a catalogue of distinct bad inputs with their reason code. The unit tests check the
//! validator against it and the integration test pushes it through the real broker, so both
//! prove the same contract.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::reason::Reason;

/// A valid event of each kind, occurring one minute before `now`.
pub fn valid_events(now: DateTime<Utc>, id_prefix: &str) -> Vec<Value> {
    let at = (now - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
    vec![
        json!({"kind": "click", "event_id": format!("{id_prefix}-click"), "occurred_at": at,
               "visitor_id": "v-1", "url": "https://Shop.Example.com/landing?ref=ann&utm_source=blog",
               "link_id": "lnk-1", "click_id": "clk-1", "ip": "203.0.113.9",
               "user_agent": "Mozilla/5.0", "referrer": "https://blog.example.org/post"}),
        json!({"kind": "page_view", "event_id": format!("{id_prefix}-view"), "occurred_at": at,
               "visitor_id": "v-1", "url": "shop.example.com/pricing?utm_medium=email"}),
        json!({"kind": "code_redemption", "event_id": format!("{id_prefix}-code"), "occurred_at": at,
               "visitor_id": "v-1", "code": " summer10 "}),
        json!({"kind": "lead", "event_id": format!("{id_prefix}-lead"), "occurred_at": at,
               "visitor_id": "v-1", "customer_id": "c-1"}),
        json!({"kind": "conversion", "event_id": format!("{id_prefix}-conv"), "occurred_at": at,
               "customer_id": "c-1", "order_id": "o-1", "amount": "129.90", "currency": "eur",
               "chain_id": "sub-1", "chain_seq": 1}),
        json!({"kind": "refund", "event_id": format!("{id_prefix}-refund"), "occurred_at": at,
               "customer_id": "c-1", "order_id": "o-1", "amount": "10", "currency": "EUR"}),
    ]
}

/// A distinct kind of bad input.
#[derive(Debug, Clone)]
pub struct BadInput {
    /// What is wrong, as a short name.
    pub name: &'static str,
    /// The raw message.
    pub bytes: Vec<u8>,
    /// The reason ingest must give.
    pub reason: Reason,
    /// A word the detail must contain (usually the field name).
    pub detail_mentions: &'static str,
}

/// Every distinct bad input ingest must dead-letter, given the message size limit in force.
pub fn bad_inputs(now: DateTime<Utc>, id_prefix: &str, message_bytes_max: usize) -> Vec<BadInput> {
    let at = (now - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("{id_prefix}-bad-{n}")
    };
    // A valid conversion, altered one field at a time.
    let conversion = |id: String, change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut event = json!({"kind": "conversion", "event_id": id, "occurred_at": at,
            "visitor_id": "v-9", "order_id": "o-9", "amount": "19.99", "currency": "USD"});
        change(event.as_object_mut().expect("object"));
        serde_json::to_vec(&event).expect("serialises")
    };
    let other = |kind: &str, id: String, change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut event = json!({"kind": kind, "event_id": id, "occurred_at": at, "visitor_id": "v-9",
            "url": "https://shop.example.com/", "code": "OK10"});
        change(event.as_object_mut().expect("object"));
        serde_json::to_vec(&event).expect("serialises")
    };
    let bad = |name, bytes, reason, detail_mentions| BadInput {
        name,
        bytes,
        reason,
        detail_mentions,
    };
    use Reason as R;
    vec![
        bad("empty message", vec![], R::EmptyMessage, "content"),
        bad(
            "whitespace only",
            b"  \n ".to_vec(),
            R::EmptyMessage,
            "content",
        ),
        bad(
            "oversize message",
            vec![b' '; message_bytes_max + 1],
            R::MessageTooLarge,
            "INGEST_MESSAGE_BYTES_MAX",
        ),
        bad(
            "invalid utf-8",
            vec![b'{', 0xff, 0xfe, b'}'],
            R::InvalidUtf8,
            "UTF-8",
        ),
        bad(
            "invalid json",
            b"{\"kind\": \"click\",".to_vec(),
            R::InvalidJson,
            "JSON",
        ),
        bad("json array", b"[1,2,3]".to_vec(), R::NotAnObject, "array"),
        bad(
            "json string",
            b"\"click\"".to_vec(),
            R::NotAnObject,
            "string",
        ),
        bad(
            "missing kind",
            conversion(id(), &|e| {
                e.remove("kind");
            }),
            R::MissingField,
            "kind",
        ),
        bad(
            "kind not a string",
            conversion(id(), &|e| {
                e.insert("kind".into(), json!(7));
            }),
            R::WrongType,
            "kind",
        ),
        bad(
            "unknown kind",
            conversion(id(), &|e| {
                e.insert("kind".into(), json!("purchase"));
            }),
            R::UnknownKind,
            "purchase",
        ),
        bad(
            "missing event_id",
            conversion(id(), &|e| {
                e.remove("event_id");
            }),
            R::MissingField,
            "event_id",
        ),
        bad(
            "event_id too long",
            conversion(id(), &|e| {
                e.insert("event_id".into(), json!("e".repeat(200)));
            }),
            R::InvalidEventId,
            "event_id",
        ),
        bad(
            "missing occurred_at",
            conversion(id(), &|e| {
                e.remove("occurred_at");
            }),
            R::MissingField,
            "occurred_at",
        ),
        bad(
            "timestamp without offset",
            conversion(id(), &|e| {
                e.insert("occurred_at".into(), json!("2026-01-01T10:00:00"));
            }),
            R::InvalidTimestamp,
            "RFC 3339",
        ),
        bad(
            "timestamp not a date",
            conversion(id(), &|e| {
                e.insert("occurred_at".into(), json!("yesterday"));
            }),
            R::InvalidTimestamp,
            "occurred_at",
        ),
        bad(
            "far-future timestamp",
            conversion(id(), &|e| {
                e.insert("occurred_at".into(), json!("2999-01-01T00:00:00Z"));
            }),
            R::TimestampInFuture,
            "ahead",
        ),
        bad(
            "ancient timestamp",
            conversion(id(), &|e| {
                e.insert("occurred_at".into(), json!("1999-12-31T23:59:59Z"));
            }),
            R::TimestampTooOld,
            "2000",
        ),
        bad(
            "no visitor or customer",
            conversion(id(), &|e| {
                e.remove("visitor_id");
            }),
            R::MissingIdentity,
            "visitor_id",
        ),
        bad(
            "visitor_id not a string",
            conversion(id(), &|e| {
                e.insert("visitor_id".into(), json!(42));
            }),
            R::WrongType,
            "visitor_id",
        ),
        bad(
            "customer_id too long",
            conversion(id(), &|e| {
                e.insert("customer_id".into(), json!("c".repeat(300)));
            }),
            R::FieldTooLong,
            "customer_id",
        ),
        bad(
            "control character in order_id",
            conversion(id(), &|e| {
                e.insert("order_id".into(), json!("o-1\u{0007}"));
            }),
            R::InvalidCharacters,
            "order_id",
        ),
        bad(
            "conversion without order_id",
            conversion(id(), &|e| {
                e.remove("order_id");
            }),
            R::MissingField,
            "order_id",
        ),
        bad(
            "conversion without amount",
            conversion(id(), &|e| {
                e.remove("amount");
            }),
            R::MissingField,
            "amount",
        ),
        bad(
            "conversion without currency",
            conversion(id(), &|e| {
                e.remove("currency");
            }),
            R::MissingField,
            "currency",
        ),
        bad(
            "amount as a JSON number",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!(19.99));
            }),
            R::WrongType,
            "amount",
        ),
        bad(
            "non-numeric amount",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!("19,99"));
            }),
            R::InvalidAmount,
            "amount",
        ),
        bad(
            "amount in exponent form",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!("1e3"));
            }),
            R::InvalidAmount,
            "amount",
        ),
        bad(
            "negative amount",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!("-5.00"));
            }),
            R::NegativeAmount,
            "negative",
        ),
        bad(
            "amount finer than the minor unit",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!("19.999"));
            }),
            R::AmountTooPrecise,
            "USD",
        ),
        bad(
            "yen with decimals",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!("100.5"));
                e.insert("currency".into(), json!("JPY"));
            }),
            R::AmountTooPrecise,
            "JPY",
        ),
        bad(
            "absurd amount",
            conversion(id(), &|e| {
                e.insert("amount".into(), json!("99999999999999"));
            }),
            R::AmountTooLarge,
            "maximum",
        ),
        bad(
            "unknown currency",
            conversion(id(), &|e| {
                e.insert("currency".into(), json!("EURO"));
            }),
            R::UnknownCurrency,
            "EURO",
        ),
        bad(
            "retired currency",
            conversion(id(), &|e| {
                e.insert("currency".into(), json!("DEM"));
            }),
            R::UnknownCurrency,
            "DEM",
        ),
        bad(
            "chain_seq zero",
            conversion(id(), &|e| {
                e.insert("chain_id".into(), json!("s-1"));
                e.insert("chain_seq".into(), json!(0));
            }),
            R::InvalidChain,
            "chain_seq",
        ),
        bad(
            "chain_seq without chain_id",
            conversion(id(), &|e| {
                e.insert("chain_seq".into(), json!(2));
            }),
            R::InvalidChain,
            "chain_id",
        ),
        bad(
            "a refund with chain_id but no chain_seq",
            conversion(id(), &|e| {
                e.insert("kind".into(), json!("refund"));
                e.insert("chain_id".into(), json!("s-1"));
            }),
            R::InvalidChain,
            "only conversions renew",
        ),
        bad(
            "chain_seq as text",
            conversion(id(), &|e| {
                e.insert("chain_id".into(), json!("s-1"));
                e.insert("chain_seq".into(), json!("2"));
            }),
            R::WrongType,
            "chain_seq",
        ),
        bad(
            "invalid ip",
            conversion(id(), &|e| {
                e.insert("ip".into(), json!("300.1.2.3"));
            }),
            R::InvalidIp,
            "300.1.2.3",
        ),
        bad(
            "refund without order_id",
            other("refund", id(), &|e| {
                e.insert("amount".into(), json!("5"));
                e.insert("currency".into(), json!("USD"));
            }),
            R::MissingField,
            "order_id",
        ),
        bad(
            "refund of zero",
            other("refund", id(), &|e| {
                e.insert("order_id".into(), json!("o-9"));
                e.insert("amount".into(), json!("0.00"));
                e.insert("currency".into(), json!("USD"));
            }),
            R::ZeroRefund,
            "zero",
        ),
        bad(
            "click without url",
            other("click", id(), &|e| {
                e.remove("url");
            }),
            R::MissingField,
            "url",
        ),
        bad(
            "page_view without url",
            other("page_view", id(), &|e| {
                e.insert("url".into(), Value::Null);
            }),
            R::MissingField,
            "url",
        ),
        bad(
            "javascript url",
            other("click", id(), &|e| {
                e.insert("url".into(), json!("javascript:alert(1)"));
            }),
            R::InvalidUrl,
            "scheme",
        ),
        bad(
            "malformed url",
            other("page_view", id(), &|e| {
                e.insert("url".into(), json!("https://exa mple.com/"));
            }),
            R::InvalidUrl,
            "url",
        ),
        bad(
            "url not a string",
            other("page_view", id(), &|e| {
                e.insert("url".into(), json!({"href": "x"}));
            }),
            R::WrongType,
            "url",
        ),
        bad(
            "malformed referrer",
            other("page_view", id(), &|e| {
                e.insert("referrer".into(), json!("http://[::1"));
            }),
            R::InvalidReferrer,
            "referrer",
        ),
        bad(
            "code_redemption without code",
            other("code_redemption", id(), &|e| {
                e.remove("code");
            }),
            R::MissingField,
            "code",
        ),
        bad(
            "code with spaces inside",
            other("code_redemption", id(), &|e| {
                e.insert("code".into(), json!("SUMMER 10"));
            }),
            R::InvalidCode,
            "code",
        ),
        bad(
            "user agent too long",
            other("page_view", id(), &|e| {
                e.insert("user_agent".into(), json!("A".repeat(2000)));
            }),
            R::FieldTooLong,
            "user_agent",
        ),
    ]
}
