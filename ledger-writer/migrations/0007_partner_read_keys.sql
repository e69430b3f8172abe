-- Sort keys for the partner API's look-ups (measured with tests/src/bin/bench_partner_api.rs on
-- 1M lines): a page of a statement names ~100 attribution ids spread over the whole id range,
-- so `attributions` (sorted by program, attribution, 8192-row granules) and
-- `attribution_evidence` (sorted by attribution) read most of their rows per page.
-- Evidence by partner first: one partner's touchpoints are one narrow range.
CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.evidence_by_partner
ENGINE = ReplacingMergeTree() ORDER BY (partner_id, attribution_id, touchpoint_id)
POPULATE AS SELECT
    attribution_id, touchpoint_id, kind, occurred_at, assumeNotNull(partner_id) AS partner_id,
    link_id, code, landing_domain, channel, utm_source, utm_medium, utm_campaign, attribution_window
FROM `{database}`.attribution_evidence WHERE partner_id IS NOT NULL;

-- Attributions by id in small granules: 100 scattered ids read ~100 × 256 rows, not most of
-- the table.
CREATE MATERIALIZED VIEW IF NOT EXISTS `{partner_database}`.attributions_by_id
ENGINE = ReplacingMergeTree() ORDER BY (program_id, attribution_id) SETTINGS index_granularity = 256
POPULATE AS SELECT attribution_id, program_id, order_id, occurred_at, model, outcome, kind
FROM `{database}`.attributions;
