//! One realistic example of every message type. They pin the encodings (golden tests), feed
//! the fastavro interoperability test, and show newcomers what travels on each topic.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::attribution::{
    Attribution, AttributionKind, AttributionModel, AttributionOutcome, AttributionWindow, Credit,
    Evidence, LosingClaim, ShadowCredit,
};
use crate::attributor_state::{
    AttributorState, ChainBinding, ChainPartner, OrderCredit, OrderRecord, PendingConversion,
    StateEntry, StoredTouchpoint,
};
use crate::codec::{encode, AvroMessage, CodecError};
use crate::commission::{CommissionDecision, CommissionKind, Decision};
use crate::dead_letter::DeadLetter;
use crate::identity::IdentityBinding;
use crate::ledger::{EntryKind, LedgerEntry, LedgerStatus};
use crate::ledger_command::{CommandKind, LedgerCommand};
use crate::ledger_state::{
    CommandOutcome, LedgerLine, LedgerState, LineKind, Payout, PayoutItem, PayoutStatus,
};
use crate::reference::{
    AttributionSettings, CodePrecedence, EntityType, Program, ReferenceRecord, RiskPolicy,
};
use crate::risk::{RiskLevel, RiskLevelName, RiskReason, RiskScore, ScoredActionKind};
use crate::risk_signal::{ConversionContext, RiskSignal};
use crate::risk_state::{
    DayCounts, FingerprintCustomer, FingerprintState, ProgramTotals, RiskState, ScoredAction,
    SourcePosition, SubjectState,
};
use crate::touchpoint::{
    AdClickId, Channel, EnrichedTouchpoint, EventKind, IngestPath, PartnerResolution,
    PartnerStatus, ResolvedBy, SourceProgress, Utm, ValidTouchpoint,
};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 0)
        .single()
        .expect("fixed timestamps are valid")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// A validated conversion.
pub fn valid_touchpoint() -> ValidTouchpoint {
    ValidTouchpoint {
        event_id: "evt-0001".into(),
        kind: EventKind::Conversion,
        occurred_at: at(0),
        received_at: at(2),
        visitor_id: s("v-42"),
        customer_id: s("cust-7"),
        click_id: None,
        url: s("https://shop.example.com/checkout?utm_source=blog"),
        referrer: s("https://www.google.com/"),
        link_id: None,
        code: s("SUMMER10"),
        shared_id: None,
        ip_hash: s("9f2c0a1b9d6c3e7f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071"),
        ip_prefix: s("203.0.113.0/24"),
        ip: None,
        user_agent: s("Mozilla/5.0 (X11; Linux x86_64)"),
        order_id: s("order-1001"),
        amount_minor: Some(12_999),
        currency: s("EUR"),
        chain_id: s("sub-55"),
        chain_seq: Some(1),
        ingest_path: IngestPath::Stream,
        program_id: s("acme-eu"),
    }
}

/// An enriched click resolved through a link.
pub fn enriched_touchpoint() -> EnrichedTouchpoint {
    let mut click = valid_touchpoint();
    click.kind = EventKind::Click;
    click.order_id = None;
    click.amount_minor = None;
    click.currency = None;
    click.chain_id = None;
    click.chain_seq = None;
    click.link_id = s("lnk-travel-1");
    click.code = None;
    EnrichedTouchpoint {
        touchpoint: click,
        program_id: "acme-eu".into(),
        attribution_key: "acme-eu/v-42".into(),
        landing_domain: s("shop.example.com"),
        channel: Channel::Referral,
        utm: Utm {
            source: s("blog"),
            medium: s("affiliate"),
            campaign: s("summer"),
            term: None,
            content: None,
        },
        ad_click_ids: vec![AdClickId {
            parameter: "gclid".into(),
            value: "Cj0KCQ".into(),
        }],
        partner: PartnerResolution {
            partner_id: s("p-travelblog"),
            partner_status: Some(PartnerStatus::Verified),
            resolved_by: ResolvedBy::Link,
            link_id: s("lnk-travel-1"),
            code: None,
            shared_id: s("newsletter"),
            unresolved_reason: None,
        },
        enriched_at: at(3),
        source: Some(SourceProgress {
            partition: 4,
            partitions: 6,
            progress: at(2),
        }),
    }
}

/// A two-partner linear attribution.
pub fn attribution() -> Attribution {
    Attribution {
        attribution_id: "att-5d1c".into(),
        kind: AttributionKind::Conversion,
        program_id: "acme-eu".into(),
        order_id: "order-1001".into(),
        event_id: "evt-0001".into(),
        attribution_key: "acme-eu/v-42".into(),
        customer_id: s("cust-7"),
        occurred_at: at(0),
        attributed_at: at(60),
        amount_minor: 12_999,
        currency: "EUR".into(),
        chain_id: s("sub-55"),
        chain_seq: Some(1),
        model: AttributionModel::Linear,
        outcome: AttributionOutcome::Attributed,
        unattributed_reason: None,
        credits: vec![
            Credit {
                partner_id: "p-travelblog".into(),
                shared_id: s("newsletter"),
                share: Decimal::new(5, 1),
                commission_id: "com-a1".into(),
                commission_minor: 650,
                rule_id: s("rule-default"),
                touchpoint_ids: vec!["evt-0000".into()],
                revenue_minor: 6_500,
                cap_reduction_minor: 0,
                reverses_commission_id: None,
            },
            Credit {
                partner_id: "p-coupons".into(),
                shared_id: None,
                share: Decimal::new(5, 1),
                commission_id: "com-b2".into(),
                commission_minor: 649,
                rule_id: s("rule-default"),
                touchpoint_ids: vec!["evt-0001".into()],
                revenue_minor: 6_499,
                cap_reduction_minor: 0,
                reverses_commission_id: None,
            },
        ],
        reverses_attribution_id: None,
        evidence: vec![Evidence {
            touchpoint_id: "evt-0000".into(),
            kind: "click".into(),
            occurred_at: at(-3600),
            partner_id: s("p-travelblog"),
            click_id: s("clk-9"),
            link_id: s("lnk-travel-1"),
            code: None,
            landing_domain: s("shop.example.com"),
            channel: s("referral"),
            utm_source: s("blog"),
            utm_medium: s("affiliate"),
            utm_campaign: s("summer"),
            window: AttributionWindow::ClickThrough,
        }],
        losing_claims: vec![LosingClaim {
            partner_id: "p-other".into(),
            touchpoint_id: s("evt-0002"),
            reason: "outside_window".into(),
        }],
        shadow_credits: vec![ShadowCredit {
            model: AttributionModel::LastTouch,
            partner_id: "p-coupons".into(),
            share: Decimal::ONE,
        }],
        late_touchpoints: 0,
        commission_total_minor: 1_299,
        click_window_seconds: 30 * 86_400,
        view_window_seconds: 86_400,
        code_precedence: s("code_wins"),
        bound_attribution_id: None,
    }
}

/// A payable commission.
pub fn commission_decision() -> CommissionDecision {
    CommissionDecision {
        commission_id: "com-a1".into(),
        attribution_id: "att-5d1c".into(),
        kind: CommissionKind::Commission,
        reverses_commission_id: None,
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        shared_id: s("newsletter"),
        order_id: "order-1001".into(),
        amount_minor: 650,
        currency: "EUR".into(),
        rule_id: s("rule-default"),
        chain_id: s("sub-55"),
        chain_seq: Some(1),
        decision: Decision::Payable,
        decision_reasons: vec![],
        risk_level: Some(RiskLevelName::Low),
        hold_until: at(30 * 86_400),
        occurred_at: at(0),
        decided_at: at(61),
    }
}

/// A partner's aggregate risk.
pub fn risk_level() -> RiskLevel {
    RiskLevel {
        subject_id: "acme-eu/p-coupons".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-coupons".into(),
        shared_id: None,
        level: RiskLevelName::Elevated,
        risk_percent: Decimal::new(125, 1),
        scored_actions: 40,
        flagged_actions: 5,
        window_days: 30,
        updated_at: at(62),
    }
}

/// A commission's approval.
pub fn ledger_entry() -> LedgerEntry {
    LedgerEntry {
        entry_id: "ent-77".into(),
        commission_id: "com-a1".into(),
        attribution_id: "att-5d1c".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        shared_id: s("newsletter"),
        order_id: "order-1001".into(),
        from_status: Some(LedgerStatus::Pending),
        to_status: LedgerStatus::Approved,
        entry_kind: EntryKind::StatusChange,
        amount_minor: 650,
        currency: "EUR".into(),
        cause: "hold_elapsed".into(),
        actor: "ledger-writer".into(),
        payout_id: None,
        effective_at: at(30 * 86_400),
        recorded_at: at(30 * 86_400 + 5),
        sequence: 2,
        amount: "6.50".into(),
        currency_exponent: 2,
    }
}

/// A payout run.
pub fn ledger_command() -> LedgerCommand {
    LedgerCommand {
        command_id: "cmd-9".into(),
        kind: CommandKind::PayoutRun,
        actor: "finance@acme".into(),
        issued_at: at(40 * 86_400),
        program_id: s("acme-eu"),
        period_end: Some(at(31 * 86_400)),
        minimum_payout: s("50.00"),
        payout_id: None,
        commission_id: None,
        partner_id: None,
        note: None,
        principal: s("finance"),
        signature: s("5d1f0c2b8e7a4c3d9f6b1a0e2d4c6b8a9f7e5d3c1b0a9e8d7c6b5a4f3e2d1c0b"),
    }
}

/// An approved commission line.
pub fn ledger_line() -> LedgerLine {
    LedgerLine {
        line_id: "com-a1".into(),
        kind: LineKind::Commission,
        of_commission_id: None,
        attribution_id: "att-5d1c".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        shared_id: s("newsletter"),
        order_id: "order-1001".into(),
        amount_minor: 650,
        currency: "EUR".into(),
        rule_id: s("default"),
        decision_reasons: vec![],
        risk_level: s("low"),
        hold_until: at(30 * 86_400),
        occurred_at: at(0),
        decided_at: at(61),
        status: LedgerStatus::Approved,
        approved_at: Some(at(30 * 86_400)),
        payout_id: s("pay-3"),
        version: 2,
        entries: 2,
    }
}

/// A changelog record with every part set (a real record sets one).
pub fn ledger_state() -> LedgerState {
    LedgerState {
        key: "l/com-a1".into(),
        line: Some(ledger_line()),
        payout: Some(Payout {
            payout_id: "pay-3".into(),
            program_id: "acme-eu".into(),
            partner_id: "p-travelblog".into(),
            currency: "EUR".into(),
            period_end: at(31 * 86_400),
            amount_minor: 650,
            status: PayoutStatus::Created,
            items: vec![PayoutItem {
                line_id: "com-a1".into(),
                kind: LineKind::Commission,
                amount_minor: 650,
            }],
            created_at: at(40 * 86_400),
            settled_at: None,
            command_id: "cmd-9".into(),
            actor: "finance@acme".into(),
            settled_by: None,
            note: None,
            version: 1,
        }),
        command: Some(CommandOutcome {
            command_id: "cmd-9".into(),
            kind: "payout_run".into(),
            accepted: true,
            detail: "1 payout created".into(),
            decided_at: at(40 * 86_400),
            lines: vec![ledger_line()],
        }),
        clock: Some(at(40 * 86_400)),
    }
}

/// A program record.
pub fn reference_record() -> ReferenceRecord {
    ReferenceRecord {
        entity_type: EntityType::Program,
        program: Some(Program {
            program_id: "acme-eu".into(),
            brand: "Acme".into(),
            domains: vec!["shop.example.com".into(), "example.de".into()],
            currency: "EUR".into(),
            attribution: AttributionSettings {
                model: AttributionModel::LastTouch,
                click_window_seconds: 30 * 86_400,
                view_window_seconds: 86_400,
                code_precedence: CodePrecedence::CodeWins,
                grace_seconds: 300,
                time_decay_half_life_seconds: 7 * 86_400,
            },
            hold_seconds: 30 * 86_400,
            risk_policy: Some(RiskPolicy {
                window_days: 30,
                min_sample: 20,
                elevated_percent: Decimal::new(5, 0),
                high_percent: Decimal::new(15, 0),
                critical_percent: Decimal::new(30, 0),
                thresholds: [("click_flood_ratio".to_string(), Decimal::new(45, 1))].into(),
                hold_reasons: vec!["code_leakage".into()],
                reverse_reasons: vec!["self_referral".into()],
                high_risk_hold_seconds: 14 * 86_400,
                hold_unverified_specialists: false,
            }),
            trust: None,
        }),
        partner: None,
        link: None,
        code: None,
        commission_rule: None,
        published_at: at(-86_400),
        source_revision: "sha256:0f1e".into(),
        deleted: false,
        principal: s("platform-team"),
        signature: s("9e0b1c2d3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c"),
        write_key: None,
        webhook_endpoint: None,
    }
}

/// A customer bound to a visitor.
pub fn identity_binding() -> IdentityBinding {
    IdentityBinding {
        customer_id: "cus-5521".into(),
        program_id: "acme-eu".into(),
        visitor_id: "v-8c1d".into(),
        source_partition: 1,
        source_offset: 4711,
        event_id: "3f0c6a2e-lead-0004".into(),
        bound_at: at(600),
    }
}

/// A rejected raw message.
pub fn dead_letter() -> DeadLetter {
    DeadLetter {
        dead_letter_id: "attrib.touchpoints.raw.v1/2/1234".into(),
        service: "ingest".into(),
        reason: "unknown_currency".into(),
        detail: "currency \"EURO\" is not an ISO 4217 code".into(),
        event_id: s("evt-bad-1"),
        source_topic: "attrib.touchpoints.raw.v1".into(),
        source_partition: 2,
        source_offset: 1234,
        source_key: Some(b"v-42".to_vec()),
        payload: br#"{"kind":"conversion","currency":"EURO"}"#.to_vec(),
        payload_bytes_total: 39,
        payload_truncated: false,
        failed_at: at(1),
    }
}

/// One example of every message type.
#[derive(Debug)]
pub struct Example {
    /// Schema file stem, e.g. `valid_touchpoint.v1`.
    pub name: &'static str,
    /// Single-object encoded bytes.
    pub encoded: Vec<u8>,
    /// The same message as JSON (timestamps as epoch milliseconds, decimals as strings).
    pub json: serde_json::Value,
}

fn example<T: AvroMessage>(message: &T) -> Result<Example, CodecError> {
    let current = T::family().current();
    Ok(Example {
        name: current
            .file
            .strip_suffix(".avsc")
            .expect("schema files end in .avsc"),
        encoded: encode(message)?,
        json: serde_json::to_value(message).map_err(|e| CodecError::Avro(e.to_string()))?,
    })
}

/// An erasure request for customer c-7 of acme-eu.
pub fn erasure_request() -> crate::ErasureRequest {
    crate::ErasureRequest {
        request_id: "era-1".into(),
        program_id: "acme-eu".into(),
        customer_id: "c-7".into(),
        visitor_ids: vec!["v-1".into(), "v-2".into()],
        attribution_keys: vec![
            "acme-eu/v-1".into(),
            "acme-eu/v-2".into(),
            "acme-eu/customer:c-7".into(),
        ],
        actor: "dpo@acme".into(),
        requested_at: at(50 * 86_400),
    }
}

/// The attributor's receipt for it in partition 2.
pub fn erasure_receipt() -> crate::ErasureReceipt {
    crate::ErasureReceipt {
        request_id: "era-1".into(),
        service: "attributor".into(),
        partition: 2,
        store: "attrib.attributor.state.v1".into(),
        records_removed: 2,
        records_redacted: 0,
        applied_at: at(50 * 86_400 + 3),
    }
}

/// A commission approval for a partner's own endpoint.
pub fn webhook_notification() -> crate::WebhookNotification {
    crate::WebhookNotification {
        notification_id: "commission.approved/ent-7f3a".into(),
        endpoint_id: "acme-eu-finance".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        event_type: "commission.approved".into(),
        occurred_at: at(30 * 86_400),
        data: r#"{"commission_id":"com-1a2b","amount":{"amount":"12.99","currency":"EUR"},"status":"approved"}"#.into(),
        risk_level: None,
    }
}

/// A delivery waiting for its third attempt.
pub fn webhook_state() -> crate::WebhookState {
    crate::WebhookState {
        entry: crate::webhook::WebhookStateEntry::Delivery,
        endpoint: None,
        delivery: Some(crate::webhook::PendingDelivery {
            delivery_id: "msg_5d1f0c2b8e7a4c3d9f6b1a0e".into(),
            endpoint_id: "acme-eu-finance".into(),
            program_id: "acme-eu".into(),
            partner_id: "p-travelblog".into(),
            event_type: "commission.approved".into(),
            sequence: 42,
            body: r#"{"type":"commission.approved","timestamp":"2026-06-01T00:00:00Z","sequence":42,"data":{}}"#.into(),
            created_at: at(30 * 86_400),
            attempts: 2,
            next_attempt_at: at(30 * 86_400 + 20),
        }),
        as_of_offset: -1,
    }
}

/// A failed second attempt, retried later.
pub fn webhook_attempt() -> crate::WebhookAttempt {
    crate::WebhookAttempt {
        attempt_id: "msg_5d1f0c2b8e7a4c3d9f6b1a0e/2".into(),
        delivery_id: "msg_5d1f0c2b8e7a4c3d9f6b1a0e".into(),
        endpoint_id: "acme-eu-finance".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        event_type: "commission.approved".into(),
        sequence: 42,
        attempt: 2,
        attempted_at: at(30 * 86_400 + 6),
        outcome: crate::webhook::AttemptOutcome::Failed,
        status_code: 503,
        latency_ms: 84,
        error: s("503 Service Unavailable"),
        next_attempt_at: Some(at(30 * 86_400 + 20)),
    }
}

/// A payout completed: its lines are paid.
pub fn payout() -> Payout {
    let mut payout = ledger_state().payout.expect("the example holds a payout");
    payout.status = PayoutStatus::Completed;
    payout.settled_at = Some(at(45 * 86_400));
    payout.settled_by = s("cmd-12");
    payout.note = s("SEPA batch 2026-07-15");
    payout.version = 2;
    payout
}

/// A claim an operator resolved.
pub fn claim_notice() -> crate::ClaimNotice {
    crate::ClaimNotice {
        claim_id: "clm-5d1f0c2b8e7a4c3d".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        order_reference: "order o-1001".into(),
        answer: "review".into(),
        detail: r#"{"message":"this order is not known yet; an operator will look into it"}"#
            .into(),
        status: "resolved".into(),
        resolution: "credited by hand: the order came in through the phone shop".into(),
        resolved_by: "ops@acme".into(),
        submitted_at: at(20 * 86_400),
        updated_at: at(21 * 86_400),
        version: 1_783_000_000_000_000,
    }
}

/// A specialist's trust state record.
pub fn trust_state() -> crate::TrustState {
    crate::TrustState {
        entry: crate::trust::TrustStateEntry::Specialist,
        specialist_id: "p-lena".into(),
        document: r#"{"v":1,"specialist_id":"p-lena"}"#.into(),
        as_of_offset: -1,
    }
}

/// A listed specialist.
pub fn specialist_trust() -> crate::SpecialistTrust {
    crate::SpecialistTrust {
        program_id: "acme-eu".into(),
        specialist_id: "p-lena".into(),
        verification: "verified".into(),
        listed: true,
        not_listed_because: None,
        score: "0.6822".into(),
        completeness_percent: 100,
        review_count: 2,
        review_average: "3.79".into(),
        explanation: r#"{"components":[]}"#.into(),
        updated_at: at(30 * 86_400),
        version: 1_783_000_000_000_000,
    }
}

/// A verification accepted.
pub fn verification_event() -> crate::VerificationEvent {
    crate::VerificationEvent {
        command_id: "vc-3c9e".into(),
        specialist_id: "p-lena".into(),
        action: "verify".into(),
        accepted: true,
        from_status: "in_review".into(),
        to_status: "verified".into(),
        refusal: None,
        actor: "reviewer@acme".into(),
        reason: "licence and ID checked".into(),
        identity_checked: true,
        credential_checked: true,
        agreement_checked: true,
        at: at(29 * 86_400),
    }
}

/// Source partition 3's progress, broadcast to every enriched partition.
pub fn source_watermark() -> crate::touchpoint::SourceWatermark {
    crate::touchpoint::SourceWatermark {
        partition: 3,
        partitions: 6,
        progress: at(86_400),
        idle: false,
        emitted_at: at(86_400 + 2),
    }
}

/// Every example, encoded with its current schema.
pub fn all() -> Result<Vec<Example>, CodecError> {
    Ok(vec![
        example(&valid_touchpoint())?,
        example(&enriched_touchpoint())?,
        example(&attribution())?,
        example(&commission_decision())?,
        example(&risk_level())?,
        example(&ledger_entry())?,
        example(&reference_record())?,
        example(&dead_letter())?,
        example(&identity_binding())?,
        example(&attributor_state())?,
        example(&risk_signal())?,
        example(&risk_state())?,
        example(&risk_score())?,
        example(&ledger_command())?,
        example(&ledger_state())?,
        example(&erasure_request())?,
        example(&erasure_receipt())?,
        example(&webhook_notification())?,
        example(&webhook_state())?,
        example(&webhook_attempt())?,
        example(&payout())?,
        example(&claim_notice())?,
        example(&trust_state())?,
        example(&specialist_trust())?,
        example(&verification_event())?,
        example(&source_watermark())?,
    ])
}

/// A forwarded conversion context.
pub fn risk_signal() -> RiskSignal {
    RiskSignal {
        program_id: "acme-eu".into(),
        source_topic: "attrib.touchpoints.enriched.v1".into(),
        source_partition: 2,
        source_offset: 4_711,
        occurred_at: at(0),
        click: None,
        conversion: Some(ConversionContext {
            event_id: "evt-0042".into(),
            attribution_key: "acme-eu/v-1".into(),
            customer_id: s("cust-1"),
            ip_hash: s("9f86d081884c7d65"),
            ip_prefix: s("203.0.113.0/24"),
            user_agent: s("Mozilla/5.0"),
            referrer: s("https://www.retailmenot.com/view/acme"),
        }),
        attribution: Some(vec![0xc3, 0x01, 0x00]),
    }
}

/// A subject's counts.
pub fn risk_state() -> RiskState {
    RiskState {
        key: "sub/acme-eu/p-travelblog".into(),
        as_of_offset: 99,
        program: Some(ProgramTotals {
            program_id: "acme-eu".into(),
            stream_time: at(60),
            attribution_time: at(0),
            context_time: at(30),
            days: Vec::new(),
        }),
        subject: Some(SubjectState {
            program_id: "acme-eu".into(),
            partner_id: "p-travelblog".into(),
            shared_id: None,
            days: vec![DayCounts {
                day: 20_000,
                clicks: 40,
                actions: 4,
                flagged: 1,
                code_only: 1,
                link: 3,
            }],
            self_fingerprints: vec!["fp-1".into()],
            published_level: s("elevated"),
            published_scored: 4,
            published_flagged: 1,
            evaluated_day: 20_000,
        }),
        fingerprint: Some(FingerprintState {
            program_id: "acme-eu".into(),
            fingerprint: "fp-1".into(),
            customers: vec![FingerprintCustomer {
                customer: "cust-1".into(),
                day: 20_000,
            }],
        }),
        action: Some(ScoredAction {
            action_id: "com-a1".into(),
            program_id: "acme-eu".into(),
            partner_id: "p-travelblog".into(),
            shared_id: s("newsletter"),
            day: 20_000,
            flagged: true,
            code_only: false,
            link: true,
            fingerprint: s("fp-1"),
            customer: "cust-1".into(),
            self_referral_claim: false,
        }),
        context: None,
        day: 20_000,
        waiting: None,
        positions: vec![SourcePosition {
            topic: "attrib.attributions.v1".into(),
            partition: 1,
            offset: 12,
        }],
    }
}

/// A flagged action with its evidence.
pub fn risk_score() -> RiskScore {
    RiskScore {
        action_id: "com-a1".into(),
        attribution_id: "att-1".into(),
        program_id: "acme-eu".into(),
        partner_id: "p-travelblog".into(),
        shared_id: s("newsletter"),
        order_id: "o-1".into(),
        action: ScoredActionKind::Credit,
        occurred_at: at(0),
        flagged: true,
        reasons: vec![RiskReason {
            code: "click_to_conversion_too_fast".into(),
            measured: "3".into(),
            threshold: "10".into(),
            detail: "3 s from the credited click to the conversion".into(),
        }],
        scored_at: at(60),
    }
}

/// A key with one touchpoint, a pending renewal, an attributed order and its chain binding.
pub fn attributor_state() -> AttributorState {
    let click = StoredTouchpoint {
        event_id: "evt-0000".into(),
        kind: "click".into(),
        occurred_at: at(-3600),
        offset: 17,
        partner_id: s("p-travelblog"),
        partner_status: s("verified"),
        resolved_by: "link".into(),
        shared_id: s("newsletter"),
        link_id: s("lnk-travel-1"),
        code: None,
        click_id: s("clk-9"),
        landing_domain: s("shop.example.com"),
        channel: "referral".into(),
        utm_source: s("blog"),
        utm_medium: s("affiliate"),
        utm_campaign: s("summer"),
    };
    let renewal = StoredTouchpoint {
        event_id: "evt-0009".into(),
        kind: "conversion".into(),
        occurred_at: at(86_400),
        offset: 40,
        partner_id: None,
        partner_status: None,
        resolved_by: "none".into(),
        shared_id: None,
        link_id: None,
        code: None,
        click_id: None,
        landing_domain: None,
        channel: "direct".into(),
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
    };
    AttributorState {
        entry: StateEntry::KeyState,
        attribution_key: "acme-eu/v-42".into(),
        as_of_offset: 40,
        stream_time: at(0),
        touchpoints: vec![click],
        pending: vec![PendingConversion {
            event: renewal,
            refund: false,
            program_id: "acme-eu".into(),
            order_id: "order-1002".into(),
            amount_minor: 12_999,
            currency: "EUR".into(),
            customer_id: s("cust-7"),
            chain_id: s("sub-55"),
            chain_seq: Some(2),
        }],
        orders: vec![OrderRecord {
            program_id: "acme-eu".into(),
            order_id: "order-1001".into(),
            attribution_id: "att-5d1c".into(),
            occurred_at: at(0),
            amount_minor: 12_999,
            currency: "EUR".into(),
            refunded_minor: 1_000,
            refund_event_ids: vec!["evt-0007".into()],
            credits: vec![OrderCredit {
                partner_id: "p-travelblog".into(),
                shared_id: s("newsletter"),
                commission_id: "com-a1".into(),
                commission_minor: 1_299,
                revenue_minor: 12_999,
                reversed_minor: 100,
            }],
        }],
        chains: vec![ChainBinding {
            binding: "chain:sub-55".into(),
            program_id: "acme-eu".into(),
            attribution_id: "att-5d1c".into(),
            bound_at: at(0),
            partners: vec![ChainPartner {
                partner_id: "p-travelblog".into(),
                shared_id: s("newsletter"),
                share: Decimal::ONE,
            }],
            renewals: 3,
        }],
        sources: Vec::new(),
    }
}
