//! What is notified, and to whom (pure): ledger entries, payouts, partner risk levels and
//! answered claims become events (`commission.created` … `commission.paid`, `payout.created`,
//! `payout.completed`, `payout.failed`, `risk_level.changed`, `claim.answered`), each addressed
//! to every enabled endpoint of its program that subscribes to its type — a program's endpoint
//! gets all its partners' events, a partner's endpoint only its own. The `data` a receiver gets
//! is partner-facing: amounts, statuses, ids; a risk event says the level only, never a reason
//! code or a rate; payouts and claims never name the operator who ran or resolved them.

use chrono::{DateTime, SecondsFormat, Utc};
use schemas::ledger::{EntryKind, LedgerStatus};
use schemas::ledger_state::{Payout, PayoutStatus};
use schemas::money::Currency;
use schemas::reference::WebhookEndpoint;
use schemas::risk::RiskLevel;
use schemas::{ClaimNotice, LedgerEntry, WebhookNotification};
use serde_json::{json, Value};

/// An event before it is addressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Deterministic: `<event type>/<source id>`.
    pub id: String,
    /// What it is about: the ledger entry, payout, claim or partner (`webhooks resend`
    /// selects by it).
    pub source_id: String,
    /// Event type.
    pub event_type: &'static str,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Business time.
    pub occurred_at: DateTime<Utc>,
    /// The body's `data`.
    pub data: Value,
    /// For `risk_level.changed`: the level (the dispatcher tells only changes).
    pub risk_level: Option<String>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The event a ledger entry is, if any: a line's first entry is `commission.created`; later
/// ones name the status reached (`approved`, `held`, `reversed`, `paid`; a clawback of a paid
/// line is `commission.reversed`). A line released from review back to pending is not an
/// event of its own: its approval will be.
pub fn from_ledger_entry(entry: &LedgerEntry) -> Option<Event> {
    let event_type = match (entry.entry_kind, entry.from_status, entry.to_status) {
        (EntryKind::StatusChange, None, _) => "commission.created",
        (EntryKind::Clawback, _, _) => "commission.reversed",
        (_, _, LedgerStatus::Approved) => "commission.approved",
        (_, _, LedgerStatus::Held) => "commission.held",
        (_, _, LedgerStatus::Reversed) => "commission.reversed",
        (_, _, LedgerStatus::Paid) => "commission.paid",
        (_, _, LedgerStatus::Pending) => return None,
    };
    let amount = if entry.amount.is_empty() {
        Value::Null // written before ledger_entry v2: minor units only
    } else {
        json!({ "amount": entry.amount, "currency": entry.currency })
    };
    Some(Event {
        id: format!("{event_type}/{}", entry.entry_id),
        source_id: entry.entry_id.clone(),
        event_type,
        program_id: entry.program_id.clone(),
        partner_id: entry.partner_id.clone(),
        // When the ledger recorded it: the moment it happened for receivers (`effective_at`,
        // the business time, is in `data`).
        occurred_at: entry.recorded_at,
        data: json!({
            "commission_id": entry.commission_id,
            "entry_id": entry.entry_id,
            "program_id": entry.program_id,
            "partner_id": entry.partner_id,
            "shared_id": entry.shared_id,
            "order_id": entry.order_id,
            "status": entry.to_status.as_str(),
            "previous_status": entry.from_status.map(LedgerStatus::as_str),
            "amount": amount,
            "amount_minor": entry.amount_minor,
            "currency": entry.currency,
            "cause": entry.cause,
            "payout_id": entry.payout_id,
            "effective_at": time(entry.effective_at),
        }),
        risk_level: None,
    })
}

/// A partner's level record as a `risk_level.changed` candidate (SharedId records are not
/// notified: the partner's own level is what programs act on).
pub fn from_risk_level(level: &RiskLevel) -> Option<Event> {
    if level.shared_id.is_some() {
        return None;
    }
    let name = level.level.as_str();
    Some(Event {
        id: format!(
            "risk_level.changed/{}/{}",
            level.subject_id,
            level.updated_at.timestamp_millis()
        ),
        source_id: level.subject_id.clone(),
        event_type: "risk_level.changed",
        program_id: level.program_id.clone(),
        partner_id: level.partner_id.clone(),
        occurred_at: level.updated_at,
        data: json!({
            "program_id": level.program_id,
            "partner_id": level.partner_id,
            "level": name,
            "updated_at": time(level.updated_at),
        }),
        risk_level: Some(name.to_string()),
    })
}

/// `minor` units of `currency` as `{amount, currency}` with a decimal string, or null for a
/// code that is not ISO 4217 (the ledger refuses those; nothing is guessed).
fn money(minor: i64, currency: &str) -> Value {
    Currency::from_code(currency).map_or(
        Value::Null,
        |c| json!({ "amount": c.from_minor(minor).to_string(), "currency": currency }),
    )
}

/// A payout's change as `payout.created`, `payout.completed` or `payout.failed`, with the
/// lines it pays (the partner's own). Who ran or settled it and the settlement note stay
/// with finance.
pub fn from_payout(payout: &Payout) -> Event {
    let event_type = match payout.status {
        PayoutStatus::Created => "payout.created",
        PayoutStatus::Completed => "payout.completed",
        PayoutStatus::Failed => "payout.failed",
    };
    let occurred_at = payout.settled_at.unwrap_or(payout.created_at);
    Event {
        id: format!("{event_type}/{}", payout.payout_id),
        source_id: payout.payout_id.clone(),
        event_type,
        program_id: payout.program_id.clone(),
        partner_id: payout.partner_id.clone(),
        occurred_at,
        data: json!({
            "payout_id": payout.payout_id,
            "program_id": payout.program_id,
            "partner_id": payout.partner_id,
            "status": payout.status.as_str(),
            "amount": money(payout.amount_minor, &payout.currency),
            "amount_minor": payout.amount_minor,
            "currency": payout.currency,
            "period_end": time(payout.period_end),
            "created_at": time(payout.created_at),
            "settled_at": payout.settled_at.map(time),
            "lines": payout.items.iter().map(|i| json!({
                "line_id": i.line_id,
                "kind": i.kind.as_str(),
                "amount_minor": i.amount_minor,
            })).collect::<Vec<_>>(),
        }),
        risk_level: None,
    }
}

/// A claim's answer as `claim.answered` — given at once or an operator's resolution; a claim
/// still open for an operator is not an event yet. The partner reads the same answer the API
/// gave; the operator's name is not in it.
pub fn from_claim(claim: &ClaimNotice) -> Option<Event> {
    if !claim.is_answered() {
        return None;
    }
    let event_type = "claim.answered";
    Some(Event {
        id: format!("{event_type}/{}/{}", claim.claim_id, claim.status),
        source_id: claim.claim_id.clone(),
        event_type,
        program_id: claim.program_id.clone(),
        partner_id: claim.partner_id.clone(),
        occurred_at: claim.updated_at,
        data: json!({
            "claim_id": claim.claim_id,
            "program_id": claim.program_id,
            "partner_id": claim.partner_id,
            "order": claim.order_reference,
            "status": claim.status,
            "answer": claim.answer,
            "detail": serde_json::from_str::<Value>(&claim.detail).unwrap_or(Value::Null),
            "resolution": (!claim.resolution.is_empty()).then_some(&claim.resolution),
            "submitted_at": time(claim.submitted_at),
            "answered_at": time(claim.updated_at),
        }),
        risk_level: None,
    })
}

/// Whether `endpoint` gets `event`.
pub fn subscribes(endpoint: &WebhookEndpoint, event: &Event) -> bool {
    endpoint.enabled
        && endpoint.program_id == event.program_id
        && endpoint
            .partner_id
            .as_ref()
            .is_none_or(|p| *p == event.partner_id)
        && (endpoint.event_types.is_empty()
            || endpoint.event_types.iter().any(|t| t == event.event_type))
}

/// One notification per endpoint that gets `event`, in endpoint id order.
pub fn address<'e>(
    event: &Event,
    endpoints: impl Iterator<Item = &'e WebhookEndpoint>,
) -> Vec<WebhookNotification> {
    let mut out: Vec<WebhookNotification> = endpoints
        .filter(|e| subscribes(e, event))
        .map(|e| WebhookNotification {
            notification_id: event.id.clone(),
            endpoint_id: e.endpoint_id.clone(),
            program_id: event.program_id.clone(),
            partner_id: event.partner_id.clone(),
            event_type: event.event_type.to_string(),
            occurred_at: event.occurred_at,
            data: event.data.to_string(),
            risk_level: event.risk_level.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::risk::RiskLevelName;

    fn endpoint(id: &str, partner: Option<&str>, types: &[&str]) -> WebhookEndpoint {
        WebhookEndpoint {
            endpoint_id: id.into(),
            program_id: "acme-eu".into(),
            partner_id: partner.map(String::from),
            url: "https://hooks.example/".into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            secret_version: 1,
            enabled: true,
        }
    }

    fn entry(from: Option<LedgerStatus>, to: LedgerStatus, kind: EntryKind) -> LedgerEntry {
        let mut e = schemas::examples::ledger_entry();
        e.from_status = from;
        e.to_status = to;
        e.entry_kind = kind;
        e
    }

    #[test]
    fn each_ledger_transition_is_its_event() {
        use LedgerStatus as S;
        let cases = [
            (
                None,
                S::Pending,
                EntryKind::StatusChange,
                Some("commission.created"),
            ),
            (
                Some(S::Pending),
                S::Approved,
                EntryKind::StatusChange,
                Some("commission.approved"),
            ),
            (
                Some(S::Pending),
                S::Held,
                EntryKind::StatusChange,
                Some("commission.held"),
            ),
            (Some(S::Held), S::Pending, EntryKind::StatusChange, None),
            (
                Some(S::Held),
                S::Reversed,
                EntryKind::StatusChange,
                Some("commission.reversed"),
            ),
            (
                Some(S::Approved),
                S::Paid,
                EntryKind::Payout,
                Some("commission.paid"),
            ),
            (
                Some(S::Paid),
                S::Reversed,
                EntryKind::Clawback,
                Some("commission.reversed"),
            ),
        ];
        for (from, to, kind, expected) in cases {
            let event = from_ledger_entry(&entry(from, to, kind));
            assert_eq!(
                event.as_ref().map(|e| e.event_type),
                expected,
                "{from:?} -> {to:?}"
            );
        }
        let e = from_ledger_entry(&entry(
            Some(S::Pending),
            S::Approved,
            EntryKind::StatusChange,
        ))
        .unwrap();
        let source = schemas::examples::ledger_entry();
        assert_eq!(e.id, format!("commission.approved/{}", source.entry_id));
        assert_eq!(e.data["amount"]["amount"], source.amount.as_str());
        assert_eq!(e.data["status"], "approved");
        assert_eq!(e.data["previous_status"], "pending");
    }

    #[test]
    fn a_risk_event_carries_the_level_only_and_shared_ids_are_not_notified() {
        let mut level = schemas::examples::risk_level();
        level.shared_id = None;
        level.level = RiskLevelName::High;
        let e = from_risk_level(&level).expect("partner level");
        assert_eq!(e.risk_level.as_deref(), Some("high"));
        let keys: Vec<&String> = e.data.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["level", "partner_id", "program_id", "updated_at"],
            "no reasons, no rates"
        );
        level.shared_id = Some("newsletter".into());
        assert_eq!(from_risk_level(&level), None);
    }

    #[test]
    fn each_payout_change_is_its_event_with_exact_money_and_no_operator() {
        let mut payout = schemas::examples::payout();
        let done = from_payout(&payout);
        assert_eq!(done.event_type, "payout.completed");
        assert_eq!(done.id, "payout.completed/pay-3");
        assert_eq!(done.data["amount"]["amount"], "6.50");
        assert_eq!(done.data["lines"][0]["line_id"], "com-a1");
        assert_eq!(done.occurred_at, payout.settled_at.unwrap());
        let body = done.data.to_string();
        for internal in ["finance@acme", "cmd-12", "SEPA"] {
            assert!(!body.contains(internal), "{internal} in {body}");
        }
        payout.status = PayoutStatus::Created;
        payout.settled_at = None;
        let created = from_payout(&payout);
        assert_eq!(created.id, "payout.created/pay-3");
        assert_eq!(created.occurred_at, payout.created_at);
        payout.status = PayoutStatus::Failed;
        assert_eq!(from_payout(&payout).event_type, "payout.failed");
    }

    #[test]
    fn a_claim_is_an_event_once_answered_and_never_names_the_operator() {
        let mut claim = schemas::examples::claim_notice();
        let resolved = from_claim(&claim).expect("resolved");
        assert_eq!(
            resolved.id,
            format!("claim.answered/{}/resolved", claim.claim_id)
        );
        assert_eq!(resolved.data["resolution"], claim.resolution.as_str());
        assert_eq!(
            resolved.data["detail"]["message"],
            "this order is not known yet; an operator will look into it"
        );
        assert!(!resolved.data.to_string().contains("ops@acme"));
        claim.status = "open".into();
        assert_eq!(from_claim(&claim), None, "waiting for an operator");
        claim.status = "answered".into();
        claim.resolution.clear();
        let at_once = from_claim(&claim).expect("answered at once");
        assert_ne!(at_once.id, resolved.id, "each answer has its own id");
        assert_eq!(at_once.data["resolution"], Value::Null);
    }

    #[test]
    fn events_reach_the_programs_endpoints_and_the_partners_own_only() {
        let mut event =
            from_ledger_entry(&entry(None, LedgerStatus::Pending, EntryKind::StatusChange))
                .unwrap();
        event.program_id = "acme-eu".into();
        event.partner_id = "p-anna".into();
        let mut disabled = endpoint("off", None, &[]);
        disabled.enabled = false;
        let mut other_program = endpoint("other", None, &[]);
        other_program.program_id = "rival".into();
        let endpoints = [
            endpoint("program-all", None, &[]),
            endpoint("program-approvals", None, &["commission.approved"]),
            endpoint("anna", Some("p-anna"), &[]),
            endpoint("bob", Some("p-bob"), &[]),
            disabled,
            other_program,
        ];
        let to: Vec<String> = address(&event, endpoints.iter())
            .into_iter()
            .map(|n| n.endpoint_id)
            .collect();
        assert_eq!(to, ["anna", "program-all"]);
    }
}
