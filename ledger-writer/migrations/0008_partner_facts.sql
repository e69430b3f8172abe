-- What the partner API's statement and performance views read, keyed by partner and
-- partitioned by month, plus views that read the latest version of each row.
--
-- Credits carry their order's kind, id, time and the attribution's model, so one partner's
-- credited orders are one narrow range of one table (before, a statement looked up ~100
-- scattered attribution ids per page: half of the page's server CPU). Rows written before
-- this version get them from `attributions` in the backfill below.
ALTER TABLE attribution_credits ADD COLUMN model String DEFAULT '';
ALTER TABLE attribution_credits ADD COLUMN kind String DEFAULT '';
ALTER TABLE attribution_credits ADD COLUMN order_id String DEFAULT '';
ALTER TABLE attribution_credits ADD COLUMN occurred_at DateTime DEFAULT toDateTime(0);

-- A partner's credited orders (conversions, renewals, refunds), by program, partner and time.
-- Credits never change once written; a replay writes the same row again (read with FINAL or
-- de-duplicate). Partitions are years, not months: every partition a read touches costs a
-- few milliseconds, and a partner's page or year of performance then touches one or two
-- (measured with bench_partner_api: monthly partitions made a statement's credit read 2.5x
-- and a year of performance 5x the CPU).
CREATE TABLE IF NOT EXISTS `{partner_database}`.credits_by_partner (
    attribution_id String,
    commission_id String,
    program_id String,
    partner_id String,
    shared_id Nullable(String),
    kind String,
    order_id String,
    occurred_at DateTime,
    model String,
    share Decimal(18, 6),
    commission_minor Int64,
    currency String,
    rule_id Nullable(String),
    touchpoint_ids Array(String),
    revenue_minor Int64,
    cap_reduction_minor Int64,
    reverses_commission_id Nullable(String)
) ENGINE = ReplacingMergeTree() PARTITION BY toYear(occurred_at)
ORDER BY (program_id, partner_id, occurred_at, attribution_id, commission_id);

-- The view first, then the backfill: a row written in between is in both, and merges.
CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.credits_by_partner_mv
TO `{partner_database}`.credits_by_partner AS SELECT
    attribution_id, commission_id, program_id, partner_id, shared_id, kind, order_id,
    occurred_at, model, share, commission_minor, currency, rule_id, touchpoint_ids,
    revenue_minor, cap_reduction_minor, reverses_commission_id
FROM `{database}`.attribution_credits;

INSERT INTO `{partner_database}`.credits_by_partner
SELECT attribution_id, commission_id, program_id, partner_id, shared_id, a_kind, a_order_id,
    a_occurred_at, a_model, share, commission_minor, currency, rule_id, touchpoint_ids,
    revenue_minor, cap_reduction_minor, reverses_commission_id
FROM (SELECT * FROM `{database}`.attribution_credits WHERE model = '') AS c
ANY INNER JOIN (
    SELECT attribution_id, kind AS a_kind, order_id AS a_order_id, occurred_at AS a_occurred_at,
        model AS a_model
    FROM `{database}`.attributions
) AS a USING attribution_id;

-- A partner's touchpoints (clicks, page views, codes, leads, ...) for performance by month and
-- source: no visitor, customer or click ids, no referrer or URL.
CREATE TABLE IF NOT EXISTS `{partner_database}`.touchpoints_by_partner (
    touchpoint_id String,
    program_id String,
    partner_id String,
    kind String,
    occurred_at DateTime,
    channel String,
    link_id Nullable(String),
    code Nullable(String),
    landing_domain Nullable(String),
    utm_source Nullable(String),
    utm_medium Nullable(String),
    utm_campaign Nullable(String)
) ENGINE = ReplacingMergeTree() PARTITION BY toYear(occurred_at)
ORDER BY (program_id, partner_id, kind, occurred_at, touchpoint_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.touchpoints_by_partner_mv
TO `{partner_database}`.touchpoints_by_partner AS SELECT
    event_id AS touchpoint_id, program_id, assumeNotNull(partner_id) AS partner_id, kind,
    occurred_at, channel, link_id, code, landing_domain, utm_source, utm_medium, utm_campaign
FROM `{database}`.touchpoints WHERE partner_id IS NOT NULL;

INSERT INTO `{partner_database}`.touchpoints_by_partner
SELECT event_id, program_id, assumeNotNull(partner_id), kind, occurred_at, channel, link_id,
    code, landing_domain, utm_source, utm_medium, utm_campaign
FROM `{database}`.touchpoints WHERE partner_id IS NOT NULL;

-- Flagged actions per reason code and day, as a set of hashed action ids, never the action
-- itself: the risk endpoint shows a partner how many of its actions each code flagged over
-- the window. A replayed score adds its id to the set again, so counts stay exact.
CREATE TABLE IF NOT EXISTS `{partner_database}`.risk_reason_days (
    program_id String,
    partner_id String,
    shared_id String,
    day Date,
    reason_code String,
    actions AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree() PARTITION BY toYear(day)
ORDER BY (program_id, partner_id, shared_id, day, reason_code);

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.risk_reason_days_mv
TO `{partner_database}`.risk_reason_days AS SELECT
    program_id, partner_id, ifNull(shared_id, '') AS shared_id, toDate(occurred_at) AS day,
    reason_code, uniqExactState(action_id) AS actions
FROM `{database}`.risk_scores ARRAY JOIN reason_codes AS reason_code
WHERE flagged = 1
GROUP BY program_id, partner_id, shared_id, day, reason_code;

INSERT INTO `{partner_database}`.risk_reason_days
SELECT program_id, partner_id, ifNull(shared_id, '') AS shared_id, toDate(occurred_at) AS day,
    reason_code, uniqExactState(action_id)
FROM `{database}`.risk_scores ARRAY JOIN reason_codes AS reason_code
WHERE flagged = 1
GROUP BY program_id, partner_id, shared_id, day, reason_code;

-- The latest version of each row, for people: `SELECT … FROM commissions_current` instead of
-- remembering FINAL.
CREATE VIEW IF NOT EXISTS commissions_current AS SELECT * FROM commissions FINAL;
CREATE VIEW IF NOT EXISTS payouts_current AS SELECT * FROM payouts FINAL;
CREATE VIEW IF NOT EXISTS risk_levels_current AS SELECT * FROM risk_levels FINAL;

-- Each order once: a platform that re-sends an order under a new event id adds a second
-- `conversions` row, and the attributor keeps the first (later ones are duplicates). This
-- view keeps the earliest event of each (program, kind, order, chain step), as the attributor
-- does, so revenue sums count an order once.
CREATE VIEW IF NOT EXISTS conversions_current AS
SELECT * FROM (SELECT * FROM conversions FINAL)
ORDER BY program_id, kind, order_id, ifNull(chain_seq, 0), occurred_at_ms, event_id
LIMIT 1 BY program_id, kind, order_id, ifNull(chain_seq, 0);
