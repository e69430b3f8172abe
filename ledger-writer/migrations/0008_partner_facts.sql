-- What the partner API's statement and performance views read, keyed by partner first and
-- partitioned by year, plus views that read the latest version of each row.
--
-- Small granules (1,024 rows, not 8,192) on what a statement page reads: a partner's range is
-- a few thousand rows, and every granule it touches is decompressed whole, column by column
-- (measured with bench_partner_api on 1M lines: a page's evidence read took 40 % less server
-- CPU, its lines 30 %).
--
-- Credits carry their order's kind, id, time and the attribution's model, so one partner's
-- credited orders are one narrow range of one table (before, a statement looked up ~100
-- scattered attribution ids per page: half of the page's server CPU). Rows written before
-- this version get them from `attributions` in the backfill below.
ALTER TABLE attribution_credits ADD COLUMN model String DEFAULT '';
ALTER TABLE attribution_credits ADD COLUMN kind String DEFAULT '';
ALTER TABLE attribution_credits ADD COLUMN order_id String DEFAULT '';
ALTER TABLE attribution_credits ADD COLUMN occurred_at DateTime DEFAULT toDateTime(0);
ALTER TABLE attribution_losing_claims ADD COLUMN program_id String DEFAULT '';
ALTER TABLE attribution_losing_claims ADD COLUMN order_id String DEFAULT '';
ALTER TABLE attribution_losing_claims ADD COLUMN occurred_at DateTime DEFAULT toDateTime(0);

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
ORDER BY (program_id, partner_id, occurred_at, attribution_id, commission_id)
SETTINGS index_granularity = 1024;

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

-- A partner's lines by time: a statement page is the next N lines after a (time, id) cursor.
-- Every version is copied; the highest `version` of a line is its current state.
CREATE TABLE IF NOT EXISTS `{partner_database}`.statement_lines (
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
    risk_level Nullable(String),
    status String,
    hold_until DateTime,
    occurred_at DateTime,
    decided_at DateTime,
    approved_at Nullable(DateTime),
    payout_id Nullable(String),
    version UInt32
) ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(occurred_at)
ORDER BY (program_id, partner_id, occurred_at, commission_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.statement_lines_mv
TO `{partner_database}`.statement_lines AS SELECT
    commission_id, line_kind, of_commission_id, attribution_id, program_id, partner_id,
    shared_id, order_id, amount_minor, amount, currency, rule_id, risk_level, status,
    hold_until, occurred_at, decided_at, approved_at, payout_id, version
FROM `{database}`.commissions;

INSERT INTO `{partner_database}`.statement_lines
SELECT commission_id, line_kind, of_commission_id, attribution_id, program_id, partner_id,
    shared_id, order_id, amount_minor, amount, currency, rule_id, risk_level, status,
    hold_until, occurred_at, decided_at, approved_at, payout_id, version
FROM `{database}`.commissions;

-- A partner's claims that lost, with the order's id and time: the statement shows those of
-- its window without looking up attributions one by one.
CREATE TABLE IF NOT EXISTS `{partner_database}`.statement_losing_claims (
    program_id String,
    partner_id String,
    occurred_at DateTime,
    attribution_id String,
    touchpoint_id String,
    order_id String,
    reason String
) ENGINE = ReplacingMergeTree() PARTITION BY toYear(occurred_at)
ORDER BY (program_id, partner_id, occurred_at, attribution_id, touchpoint_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.statement_losing_claims_mv
TO `{partner_database}`.statement_losing_claims AS SELECT
    program_id, partner_id, occurred_at, attribution_id, touchpoint_id, order_id, reason
FROM `{database}`.attribution_losing_claims;

INSERT INTO `{partner_database}`.statement_losing_claims
SELECT a_program_id, partner_id, a_occurred_at, attribution_id, touchpoint_id, a_order_id, reason
FROM (SELECT * FROM `{database}`.attribution_losing_claims WHERE program_id = '') AS l
ANY INNER JOIN (
    SELECT attribution_id, program_id AS a_program_id, order_id AS a_order_id,
        occurred_at AS a_occurred_at
    FROM `{database}`.attributions
) AS a USING attribution_id;

-- Orders by id, for missing-commission claims (`attributions` is sorted by attribution id, so
-- finding an order there reads the whole program).
CREATE TABLE IF NOT EXISTS `{partner_database}`.orders_by_id (
    program_id String,
    order_id String,
    attribution_id String,
    kind String,
    occurred_at DateTime,
    amount_minor Int64,
    currency String
) ENGINE = ReplacingMergeTree() PARTITION BY toYear(occurred_at)
ORDER BY (program_id, order_id, attribution_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.orders_by_id_mv
TO `{partner_database}`.orders_by_id AS SELECT
    program_id, order_id, attribution_id, kind, occurred_at, amount_minor, currency
FROM `{database}`.attributions;

INSERT INTO `{partner_database}`.orders_by_id
SELECT program_id, order_id, attribution_id, kind, occurred_at, amount_minor, currency
FROM `{database}`.attributions;

-- The partner's touchpoints in each attribution's evidence, in small granules. Supersedes
-- `evidence_by_partner` (migration 7), which a later version drops once no reader is left.
CREATE TABLE IF NOT EXISTS `{partner_database}`.statement_evidence (
    attribution_id String,
    touchpoint_id String,
    kind String,
    occurred_at DateTime,
    partner_id String,
    link_id Nullable(String),
    code Nullable(String),
    landing_domain Nullable(String),
    channel Nullable(String),
    utm_source Nullable(String),
    utm_medium Nullable(String),
    utm_campaign Nullable(String),
    attribution_window String
) ENGINE = ReplacingMergeTree() ORDER BY (partner_id, attribution_id, touchpoint_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.statement_evidence_mv
TO `{partner_database}`.statement_evidence AS SELECT
    attribution_id, touchpoint_id, kind, occurred_at, assumeNotNull(partner_id) AS partner_id,
    link_id, code, landing_domain, channel, utm_source, utm_medium, utm_campaign, attribution_window
FROM `{database}`.attribution_evidence WHERE partner_id IS NOT NULL;

INSERT INTO `{partner_database}`.statement_evidence
SELECT attribution_id, touchpoint_id, kind, occurred_at, assumeNotNull(partner_id), link_id,
    code, landing_domain, channel, utm_source, utm_medium, utm_campaign, attribution_window
FROM `{database}`.attribution_evidence WHERE partner_id IS NOT NULL;

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
ORDER BY (program_id, partner_id, kind, occurred_at, touchpoint_id)
SETTINGS index_granularity = 1024;

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

-- Every dead letter of the pipeline (the dead-letter topic, written by every service), for
-- operators: who rejected what, why, and where the original is (topic, partition, offset).
-- The original bytes stay on the topic only (DEAD_LETTER_RETENTION_MS): they may hold
-- personal data this table must not keep.
CREATE TABLE IF NOT EXISTS dead_letters (
    dead_letter_id String,
    service String,
    reason String,
    detail String,
    event_id Nullable(String),
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    payload_bytes_total Int64,
    payload_truncated UInt8,
    failed_at DateTime,
    failed_at_ms Int64
) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(failed_at)
ORDER BY (service, reason, dead_letter_id);
