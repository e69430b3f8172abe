-- The partner-safe database, `{partner_database}` (CLICKHOUSE_DATABASE + `_partner`): what a
-- partner may see of their own numbers, and nothing else. No personal data (customer, visitor,
-- click ids, IPs, user agents), no event-level risk reason codes, no internal actors or notes.
-- Partner-facing readers are granted this database only (deploy/README.md#clickhouse-users).
-- Materialized views, not plain views: on 18.16 reading a view needs access to the database
-- it selects from, while a materialized view keeps its own copy, filled on every insert.
-- Sorted by program and partner first, so one partner's statement reads a narrow range.
CREATE DATABASE IF NOT EXISTS `{partner_database}`;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.commissions
ENGINE = ReplacingMergeTree(version) ORDER BY (program_id, partner_id, commission_id)
POPULATE AS SELECT
    commission_id, line_kind, of_commission_id, attribution_id, program_id, partner_id,
    shared_id, order_id, amount_minor, amount, currency, rule_id, risk_level, status,
    hold_until, occurred_at, decided_at, approved_at, payout_id, version
FROM `{database}`.commissions;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.ledger_entries
ENGINE = ReplacingMergeTree() ORDER BY (program_id, partner_id, entry_id)
POPULATE AS SELECT
    entry_id, commission_id, attribution_id, program_id, partner_id, shared_id, order_id,
    from_status, to_status, entry_kind, amount_minor, amount, currency, payout_id,
    effective_at, effective_at_ms, sequence
FROM `{database}`.ledger_entries;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.payouts
ENGINE = ReplacingMergeTree(version) ORDER BY (program_id, partner_id, payout_id)
POPULATE AS SELECT
    payout_id, program_id, partner_id, currency, period_end, amount_minor, amount, item_count,
    status, created_at, settled_at, version
FROM `{database}`.payouts;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.payout_items
ENGINE = ReplacingMergeTree() ORDER BY (payout_id, commission_id)
POPULATE AS SELECT payout_id, commission_id, line_kind, amount_minor, amount, currency
FROM `{database}`.payout_items;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.attributions
ENGINE = ReplacingMergeTree() ORDER BY (program_id, attribution_id)
POPULATE AS SELECT
    attribution_id, kind, program_id, order_id, occurred_at, attributed_at, amount_minor,
    amount, currency, model, outcome, unattributed_reason, commission_total_minor,
    reverses_attribution_id, chain_id, chain_seq
FROM `{database}`.attributions;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.attribution_credits
ENGINE = ReplacingMergeTree() ORDER BY (program_id, partner_id, attribution_id, commission_id)
POPULATE AS SELECT
    attribution_id, commission_id, program_id, partner_id, shared_id, share, commission_minor,
    commission, currency, rule_id, touchpoint_ids, revenue_minor, cap_reduction_minor,
    reverses_commission_id
FROM `{database}`.attribution_credits;

-- Evidence without click ids (an ad network's id of one person's click).
CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.attribution_evidence
ENGINE = ReplacingMergeTree() ORDER BY (attribution_id, touchpoint_id)
POPULATE AS SELECT
    attribution_id, touchpoint_id, kind, occurred_at, partner_id, link_id, code,
    landing_domain, channel, utm_source, utm_medium, utm_campaign, attribution_window
FROM `{database}`.attribution_evidence;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.attribution_losing_claims
ENGINE = ReplacingMergeTree() ORDER BY (partner_id, attribution_id, touchpoint_id)
POPULATE AS SELECT attribution_id, partner_id, touchpoint_id, reason
FROM `{database}`.attribution_losing_claims;

-- Levels and counts only; the reason codes behind them stay in risk_scores.
CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.risk_levels
ENGINE = ReplacingMergeTree(updated_at_ms) ORDER BY (program_id, partner_id, subject_id)
POPULATE AS SELECT
    subject_id, program_id, partner_id, shared_id, level, risk_percent, scored_actions,
    flagged_actions, window_days, updated_at, updated_at_ms
FROM `{database}`.risk_levels;
