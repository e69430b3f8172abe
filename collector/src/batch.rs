//! A request body made into raw-topic messages (pure): one event, a JSON array or NDJSON,
//! each event checked by ingest's own validation so a sender learns at once, with ingest's
//! reason codes, what ingest would dead-letter. What passes is forwarded as the JSON object it
//! arrived as, with the write key's program filled in.

use chrono::{DateTime, Utc};
use ingest::process::{output_key, validate, Rules};
use ingest::reason::Reason;
use schemas::touchpoint::IngestPath;
use serde::Serialize;
use serde_json::{Map, Value};

/// Reason code of an event naming another program than its write key's.
pub const PROGRAM_MISMATCH: &str = "program_mismatch";

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON object, or a JSON array of them.
    Json,
    /// One JSON object per line (`application/x-ndjson`, `application/jsonl`).
    Ndjson,
}

impl Framing {
    /// From the request's `Content-Type` (anything but NDJSON/JSON Lines reads as JSON).
    pub fn of_content_type(content_type: Option<&str>) -> Framing {
        let essence = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Framing::Ndjson,
            _ => Framing::Json,
        }
    }
}

/// What the collector checks besides ingest's rules.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most events per request.
    pub events_max: usize,
    /// Ingest's validation rules (message size, clock skew).
    pub rules: Rules,
}

/// A message for the raw topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The key ingest would give the valid touchpoint (customer, else visitor), so one
    /// person's events share a raw partition.
    pub key: Option<Vec<u8>>,
    /// The event as JSON.
    pub payload: Vec<u8>,
}

/// Why one event of a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// Position in the request (0-based; the line for NDJSON, counting blank lines out).
    pub index: usize,
    /// Its `event_id`, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Ingest's reason code, or [`PROGRAM_MISMATCH`].
    pub reason: &'static str,
    /// A sentence naming the field.
    pub detail: String,
}

/// What became of a request's events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sorted {
    /// To be produced.
    pub accepted: Vec<RawMessage>,
    /// Refused, each with its reason.
    pub refused: Vec<Refused>,
}

/// Why a whole request is refused (400/413).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Nothing to read.
    Empty,
    /// Not JSON, or JSON that is neither an object nor an array.
    NotEvents(String),
    /// More events than allowed.
    TooManyEvents {
        /// Events in the request.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Empty => f.write_str("the request has no events"),
            BodyError::NotEvents(why) => f.write_str(why),
            BodyError::TooManyEvents { count, max } => write!(
                f,
                "the request has {count} events; at most {max} per request (COLLECTOR_BATCH_EVENTS_MAX): split it"
            ),
        }
    }
}

/// One event of the body: its bytes when framing gave it alone (NDJSON), or its value.
enum Item<'b> {
    Line(&'b [u8]),
    Value(Value),
}

fn items(body: &[u8], framing: Framing) -> Result<Vec<Item<'_>>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    if framing == Framing::Ndjson {
        return Ok(body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(Item::Line)
            .collect());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        BodyError::NotEvents(format!(
            "the body is not JSON ({e}); send an event object, an array of them, or NDJSON with Content-Type: application/x-ndjson"
        ))
    })?;
    match value {
        Value::Array(values) if values.is_empty() => Err(BodyError::Empty),
        Value::Array(values) => Ok(values.into_iter().map(Item::Value).collect()),
        object @ Value::Object(_) => Ok(vec![Item::Value(object)]),
        other => Err(BodyError::NotEvents(format!(
            "the body is a JSON {}; send an event object or an array of them",
            json_type(&other)
        ))),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Sorts a request's events for `program_id`: each gets the program when it has none, one
/// naming another program is refused, and the rest go through ingest's validation at `now`.
pub fn sort(
    body: &[u8],
    framing: Framing,
    program_id: &str,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Sorted, BodyError> {
    let items = items(body, framing)?;
    if items.len() > limits.events_max {
        return Err(BodyError::TooManyEvents {
            count: items.len(),
            max: limits.events_max,
        });
    }
    let mut sorted = Sorted::default();
    for (index, item) in items.into_iter().enumerate() {
        match event(item, program_id, limits, now) {
            Ok(message) => sorted.accepted.push(message),
            Err((reason, detail, event_id)) => sorted.refused.push(Refused {
                index,
                event_id,
                reason,
                detail,
            }),
        }
    }
    Ok(sorted)
}

/// Checks one event given as a JSON value (a mapped Stripe event) as [`sort`] checks each.
pub fn check(
    value: Value,
    program_id: &str,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<RawMessage, Refused> {
    event(Item::Value(value), program_id, limits, now).map_err(|(reason, detail, event_id)| {
        Refused {
            index: 0,
            event_id,
            reason,
            detail,
        }
    })
}

type Refusal = (&'static str, String, Option<String>);

fn event(
    item: Item<'_>,
    program_id: &str,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<RawMessage, Refusal> {
    let value = match item {
        Item::Value(value) => value,
        // A line ingest cannot even read gets ingest's own verdict (size, UTF-8, JSON).
        Item::Line(bytes) => {
            serde_json::from_slice(bytes).map_err(|_| refusal(bytes, limits, now))?
        }
    };
    let Value::Object(mut object) = value else {
        return Err((
            Reason::NotAnObject.code(),
            format!("the event is a JSON {}, not an object", json_type(&value)),
            None,
        ));
    };
    scope(&mut object, program_id)?;
    let payload = serde_json::to_vec(&Value::Object(object))
        .map_err(|e| (Reason::InvalidJson.code(), e.to_string(), None))?;
    let touchpoint = validate(&payload, &limits.rules, now, IngestPath::Stream)
        .map_err(|r| (r.reason.code(), r.detail, r.event_id))?;
    Ok(RawMessage {
        key: output_key(&touchpoint).map(|k| k.as_bytes().to_vec()),
        payload,
    })
}

/// Ingest's verdict on bytes that are not a JSON value.
fn refusal(bytes: &[u8], limits: &Limits, now: DateTime<Utc>) -> Refusal {
    match validate(bytes, &limits.rules, now, IngestPath::Stream) {
        Err(r) => (r.reason.code(), r.detail, r.event_id),
        Ok(_) => (
            Reason::InvalidJson.code(),
            "the line is not JSON".into(),
            None,
        ),
    }
}

/// Fills in the key's program, or refuses an event that names another one.
fn scope(object: &mut Map<String, Value>, program_id: &str) -> Result<(), Refusal> {
    let event_id = || {
        object
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match object.get("program_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p.is_empty() || p == program_id => {}
        Some(other) => {
            return Err((
                PROGRAM_MISMATCH,
                format!(
                    "program_id is {other}, but this write key sends events for {program_id:?} only"
                ),
                event_id(),
            ))
        }
    }
    object.insert("program_id".into(), Value::String(program_id.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ingest::pii::{IpMode, IpPolicy};

    fn limits() -> Limits {
        Limits {
            events_max: 3,
            rules: Rules {
                message_bytes_max: 400,
                future_skew: chrono::Duration::seconds(300),
                ip_policy: IpPolicy::new(IpMode::Hash, &[1; 32]),
            },
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    const CLICK: &str = r#"{"kind":"click","event_id":"e1","occurred_at":"2026-11-28T11:00:00Z","visitor_id":"v1","url":"https://shop.example/?ref=p1"}"#;
    const ORDER: &str = r#"{"kind":"conversion","event_id":"e2","occurred_at":"2026-11-28T11:05:00Z","customer_id":"c9","visitor_id":"v1","order_id":"o1","amount":"19.99","currency":"EUR"}"#;

    fn sort_text(text: &str, framing: Framing) -> Result<Sorted, BodyError> {
        sort(text.as_bytes(), framing, "acme", &limits(), now())
    }

    #[test]
    fn one_event_an_array_and_ndjson_give_the_same_messages_with_the_program_filled_in() {
        let single = sort_text(CLICK, Framing::Json).expect("single");
        let array = sort_text(&format!("[{CLICK},{ORDER}]"), Framing::Json).expect("array");
        let lines = sort_text(&format!("{CLICK}\n\n{ORDER}\n"), Framing::Ndjson).expect("ndjson");
        assert_eq!(single.accepted.len(), 1);
        assert_eq!(array, lines);
        assert_eq!(array.accepted[0], single.accepted[0]);
        let sent: Value = serde_json::from_slice(&array.accepted[1].payload).unwrap();
        assert_eq!(sent["program_id"], "acme");
        assert_eq!(sent["amount"], "19.99", "forwarded as sent, not normalised");
        assert_eq!(array.accepted[0].key.as_deref(), Some(&b"v1"[..]));
        assert_eq!(
            array.accepted[1].key.as_deref(),
            Some(&b"c9"[..]),
            "customer first, as ingest keys"
        );
    }

    #[test]
    fn each_bad_event_is_refused_with_ingests_reason_and_the_rest_pass() {
        let other_program = CLICK.replace(r#""kind""#, r#""program_id":"rival","kind""#);
        let float_amount = ORDER.replace(r#""19.99""#, "19.99");
        let body = format!("{other_program}\n{{not json\n{float_amount}");
        let sorted = sort_text(&body, Framing::Ndjson).expect("sorted");
        assert!(sorted.accepted.is_empty());
        let reasons: Vec<(usize, &str, Option<&str>)> = sorted
            .refused
            .iter()
            .map(|r| (r.index, r.reason, r.event_id.as_deref()))
            .collect();
        assert_eq!(
            reasons,
            [
                (0, PROGRAM_MISMATCH, Some("e1")),
                (1, "invalid_json", None),
                (2, "wrong_type", Some("e2")),
            ]
        );
        let same_program = CLICK.replace(r#""kind""#, r#""program_id":"acme","kind""#);
        let mixed = format!(r#"[{same_program}, 42, {ORDER}]"#);
        let sorted = sort_text(&mixed, Framing::Json).expect("sorted");
        assert_eq!(sorted.accepted.len(), 2);
        assert_eq!(sorted.refused[0].index, 1);
        assert_eq!(sorted.refused[0].reason, "not_an_object");
    }

    #[test]
    fn an_event_over_ingests_size_limit_is_refused_as_ingest_would() {
        let big = CLICK.replace("?ref=p1", &format!("?ref={}", "x".repeat(400)));
        let sorted = sort_text(&big, Framing::Ndjson).expect("sorted");
        assert_eq!(sorted.refused[0].reason, "message_too_large");
        let sorted = sort_text(&big, Framing::Json).expect("sorted");
        assert_eq!(sorted.refused[0].reason, "message_too_large");
    }

    #[test]
    fn whole_requests_that_are_not_events_are_refused() {
        assert_eq!(sort_text("  \n", Framing::Json), Err(BodyError::Empty));
        assert_eq!(sort_text("[]", Framing::Json), Err(BodyError::Empty));
        assert!(
            matches!(sort_text("\"x\"", Framing::Json), Err(BodyError::NotEvents(m)) if m.contains("string"))
        );
        assert!(
            matches!(sort_text("{", Framing::Json), Err(BodyError::NotEvents(m)) if m.contains("not JSON"))
        );
        assert_eq!(
            sort_text(&[CLICK; 4].join("\n"), Framing::Ndjson),
            Err(BodyError::TooManyEvents { count: 4, max: 3 })
        );
    }

    #[test]
    fn framing_follows_the_content_type() {
        assert_eq!(
            Framing::of_content_type(Some("application/x-ndjson; charset=utf-8")),
            Framing::Ndjson
        );
        assert_eq!(
            Framing::of_content_type(Some("Application/JSONL")),
            Framing::Ndjson
        );
        assert_eq!(
            Framing::of_content_type(Some("application/json")),
            Framing::Json
        );
        assert_eq!(Framing::of_content_type(None), Framing::Json);
    }
}
