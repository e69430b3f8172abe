//! Why ingest rejects a message. Each reason is a stable code: it is the `reason` of the
//! dead-letter record and the label of `ingest_dead_lettered_total`, so dashboards and
//! consumers of the dead-letter topic can rely on it.

/// A reason code for a dead-lettered raw message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No bytes (or a tombstone).
    EmptyMessage,
    /// More bytes than `INGEST_MESSAGE_BYTES_MAX`.
    MessageTooLarge,
    /// Not UTF-8.
    InvalidUtf8,
    /// Not JSON.
    InvalidJson,
    /// JSON, but not an object.
    NotAnObject,
    /// A field the event's kind requires is absent (or null, or blank).
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// `kind` is not one of the six kinds.
    UnknownKind,
    /// `event_id` is unusable.
    InvalidEventId,
    /// `occurred_at` is not RFC 3339 with an offset.
    InvalidTimestamp,
    /// `occurred_at` is further in the future than the allowed skew.
    TimestampInFuture,
    /// `occurred_at` is before 2000-01-01.
    TimestampTooOld,
    /// Neither `visitor_id` nor `customer_id`.
    MissingIdentity,
    /// A text field is longer than its limit.
    FieldTooLong,
    /// A text field contains control characters.
    InvalidCharacters,
    /// `url` is not an http(s) URL with a host.
    InvalidUrl,
    /// `referrer` is not a URL.
    InvalidReferrer,
    /// `code` has characters outside A–Z, 0–9, `-`, `_` or is too long.
    InvalidCode,
    /// `amount` is not a decimal string.
    InvalidAmount,
    /// `amount` is negative.
    NegativeAmount,
    /// A refund of zero.
    ZeroRefund,
    /// `amount` has more decimals than the currency's minor unit.
    AmountTooPrecise,
    /// `amount` is beyond the accepted maximum.
    AmountTooLarge,
    /// `currency` is not an active ISO 4217 code.
    UnknownCurrency,
    /// `ip` is not an IPv4/IPv6 address.
    InvalidIp,
    /// `chain_id`/`chain_seq` inconsistent or out of range.
    InvalidChain,
}

impl Reason {
    /// Every reason, for metric pre-registration and documentation.
    pub const ALL: [Reason; 26] = [
        Reason::EmptyMessage,
        Reason::MessageTooLarge,
        Reason::InvalidUtf8,
        Reason::InvalidJson,
        Reason::NotAnObject,
        Reason::MissingField,
        Reason::WrongType,
        Reason::UnknownKind,
        Reason::InvalidEventId,
        Reason::InvalidTimestamp,
        Reason::TimestampInFuture,
        Reason::TimestampTooOld,
        Reason::MissingIdentity,
        Reason::FieldTooLong,
        Reason::InvalidCharacters,
        Reason::InvalidUrl,
        Reason::InvalidReferrer,
        Reason::InvalidCode,
        Reason::InvalidAmount,
        Reason::NegativeAmount,
        Reason::ZeroRefund,
        Reason::AmountTooPrecise,
        Reason::AmountTooLarge,
        Reason::UnknownCurrency,
        Reason::InvalidIp,
        Reason::InvalidChain,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::EmptyMessage => "empty_message",
            Reason::MessageTooLarge => "message_too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::NotAnObject => "not_an_object",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::UnknownKind => "unknown_kind",
            Reason::InvalidEventId => "invalid_event_id",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::TimestampInFuture => "timestamp_in_future",
            Reason::TimestampTooOld => "timestamp_too_old",
            Reason::MissingIdentity => "missing_identity",
            Reason::FieldTooLong => "field_too_long",
            Reason::InvalidCharacters => "invalid_characters",
            Reason::InvalidUrl => "invalid_url",
            Reason::InvalidReferrer => "invalid_referrer",
            Reason::InvalidCode => "invalid_code",
            Reason::InvalidAmount => "invalid_amount",
            Reason::NegativeAmount => "negative_amount",
            Reason::ZeroRefund => "zero_refund",
            Reason::AmountTooPrecise => "amount_too_precise",
            Reason::AmountTooLarge => "amount_too_large",
            Reason::UnknownCurrency => "unknown_currency",
            Reason::InvalidIp => "invalid_ip",
            Reason::InvalidChain => "invalid_chain",
        }
    }
}

/// A rejected message: the reason code, a sentence naming the field, and the event id when
/// it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Reason code.
    pub reason: Reason,
    /// Human-readable detail.
    pub detail: String,
    /// The message's event_id, if readable.
    pub event_id: Option<String>,
}

impl Rejection {
    /// A rejection with no event id yet (the validator fills it in).
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
            event_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_the_variants_in_declaration_order_so_they_can_index_counters() {
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{reason:?}");
        }
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert!(codes.iter().all(|c| c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }
}
