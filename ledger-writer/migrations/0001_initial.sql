-- Version 1: every table the ledger-writer fills. Runs on ClickHouse 18.16 and current
-- releases: plain types only (DateTime plus *_ms where order within a second matters,
-- Decimal for money, String for statuses), no TTL, CODEC, LowCardinality or DateTime64.
-- Every table is a ReplacingMergeTree keyed by its deterministic id: a replayed row merges
-- into the first, and queries read with FINAL to see exactly one row per id before merges.
-- Money: amount_minor is exact in the currency's minor unit; amount is the same value as
-- Decimal(18, 4) for people (every ISO 4217 currency has at most 4 minor digits).

CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree() ORDER BY version;

CREATE TABLE IF NOT EXISTS touchpoints (
    event_id String,
    program_id String,
    kind String,
    occurred_at DateTime,
    occurred_at_ms Int64,
    visitor_id Nullable(String),
    customer_id Nullable(String),
    attribution_key String,
    partner_id Nullable(String),
    resolved_by String,
    link_id Nullable(String),
    code Nullable(String),
    shared_id Nullable(String),
    channel String,
    landing_domain Nullable(String),
    utm_source Nullable(String),
    utm_medium Nullable(String),
    utm_campaign Nullable(String),
    click_id Nullable(String),
    referrer Nullable(String),
    order_id Nullable(String),
    enriched_at DateTime
) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(occurred_at) ORDER BY (program_id, event_id);

CREATE TABLE IF NOT EXISTS conversions (
    event_id String,
    program_id String,
    kind String,
    order_id String,
    occurred_at DateTime,
    occurred_at_ms Int64,
    customer_id Nullable(String),
    visitor_id Nullable(String),
    amount_minor Int64,
    amount Decimal(18, 4),
    currency String,
    chain_id Nullable(String),
    chain_seq Nullable(Int32),
    partner_id Nullable(String),
    channel String,
    utm_source Nullable(String),
    utm_medium Nullable(String),
    utm_campaign Nullable(String)
) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(occurred_at) ORDER BY (program_id, event_id);

CREATE TABLE IF NOT EXISTS attributions (
    attribution_id String,
    kind String,
    program_id String,
    order_id String,
    event_id String,
    attribution_key String,
    customer_id Nullable(String),
    occurred_at DateTime,
    attributed_at DateTime,
    amount_minor Int64,
    amount Decimal(18, 4),
    currency String,
    model String,
    outcome String,
    unattributed_reason Nullable(String),
    commission_total_minor Int64,
    late_touchpoints Int32,
    reverses_attribution_id Nullable(String),
    chain_id Nullable(String),
    chain_seq Nullable(Int32)
) ENGINE = ReplacingMergeTree() ORDER BY attribution_id;

CREATE TABLE IF NOT EXISTS attribution_credits (
    attribution_id String,
    commission_id String,
    program_id String,
    partner_id String,
    shared_id Nullable(String),
    share Decimal(18, 6),
    commission_minor Int64,
    commission Decimal(18, 4),
    currency String,
    rule_id Nullable(String),
    touchpoint_ids Array(String),
    revenue_minor Int64,
    cap_reduction_minor Int64,
    reverses_commission_id Nullable(String)
) ENGINE = ReplacingMergeTree() ORDER BY (attribution_id, commission_id);

CREATE TABLE IF NOT EXISTS attribution_evidence (
    attribution_id String,
    touchpoint_id String,
    kind String,
    occurred_at DateTime,
    partner_id Nullable(String),
    click_id Nullable(String),
    link_id Nullable(String),
    code Nullable(String),
    landing_domain Nullable(String),
    channel Nullable(String),
    utm_source Nullable(String),
    utm_medium Nullable(String),
    utm_campaign Nullable(String),
    attribution_window String
) ENGINE = ReplacingMergeTree() ORDER BY (attribution_id, touchpoint_id);

CREATE TABLE IF NOT EXISTS attribution_losing_claims (
    attribution_id String,
    partner_id String,
    touchpoint_id String,
    reason String
) ENGINE = ReplacingMergeTree() ORDER BY (attribution_id, partner_id, touchpoint_id);

CREATE TABLE IF NOT EXISTS attribution_shadow_credits (
    attribution_id String,
    model String,
    partner_id String,
    share Decimal(18, 6)
) ENGINE = ReplacingMergeTree() ORDER BY (attribution_id, model, partner_id);

CREATE TABLE IF NOT EXISTS risk_scores (
    action_id String,
    attribution_id String,
    program_id String,
    partner_id String,
    shared_id Nullable(String),
    order_id String,
    action String,
    occurred_at DateTime,
    flagged UInt8,
    reason_codes Array(String),
    reason_measured Array(String),
    reason_thresholds Array(String),
    reason_details Array(String),
    scored_at DateTime
) ENGINE = ReplacingMergeTree() ORDER BY action_id;

CREATE TABLE IF NOT EXISTS risk_levels (
    subject_id String,
    program_id String,
    partner_id String,
    shared_id Nullable(String),
    level String,
    risk_percent Decimal(18, 2),
    scored_actions Int64,
    flagged_actions Int64,
    window_days Int32,
    updated_at DateTime,
    updated_at_ms Int64
) ENGINE = ReplacingMergeTree(updated_at_ms) ORDER BY subject_id;

CREATE TABLE IF NOT EXISTS commissions (
    commission_id String,
    line_kind String,
    of_commission_id Nullable(String),
    attribution_id String,
    program_id String,
    partner_id String,
    shared_id Nullable(String),
    order_id String,
    amount_minor Int64,
    amount Decimal(18, 4),
    currency String,
    rule_id Nullable(String),
    decision_reasons Array(String),
    risk_level Nullable(String),
    status String,
    hold_until DateTime,
    occurred_at DateTime,
    decided_at DateTime,
    approved_at Nullable(DateTime),
    payout_id Nullable(String),
    version UInt32
) ENGINE = ReplacingMergeTree(version) ORDER BY commission_id;

CREATE TABLE IF NOT EXISTS ledger_entries (
    entry_id String,
    commission_id String,
    attribution_id String,
    program_id String,
    partner_id String,
    shared_id Nullable(String),
    order_id String,
    from_status Nullable(String),
    to_status String,
    entry_kind String,
    amount_minor Int64,
    amount Decimal(18, 4),
    currency String,
    cause String,
    actor String,
    payout_id Nullable(String),
    effective_at DateTime,
    effective_at_ms Int64,
    recorded_at DateTime
) ENGINE = ReplacingMergeTree() ORDER BY entry_id;

CREATE TABLE IF NOT EXISTS payouts (
    payout_id String,
    program_id String,
    partner_id String,
    currency String,
    period_end DateTime,
    amount_minor Int64,
    amount Decimal(18, 4),
    item_count UInt32,
    status String,
    created_at DateTime,
    settled_at Nullable(DateTime),
    command_id String,
    actor String,
    note Nullable(String),
    version UInt32
) ENGINE = ReplacingMergeTree(version) ORDER BY payout_id;

CREATE TABLE IF NOT EXISTS payout_items (
    payout_id String,
    commission_id String,
    line_kind String,
    amount_minor Int64,
    amount Decimal(18, 4),
    currency String
) ENGINE = ReplacingMergeTree() ORDER BY (payout_id, commission_id);

CREATE TABLE IF NOT EXISTS ledger_commands (
    command_id String,
    source_partition Int32,
    kind String,
    accepted UInt8,
    detail String,
    decided_at DateTime,
    recorded_at DateTime
) ENGINE = ReplacingMergeTree() ORDER BY (command_id, source_partition);
