-- Queries for people: analysts and finance. Each starts with `-- name:` and a sentence on
-- what it answers; the quoted example values are the demo's (deploy/local/demo.sh): program
-- 'sandals-eu', partner 'p-travelblog' and its first payout — replace them with yours. Every table is a ReplacingMergeTree:
-- read it with FINAL so each id counts once even before background merges. All of these run
-- on ClickHouse 18.16 (explicit join strictness, USING) and on current releases
-- (checked by `tests/tests/clickhouse_queries.rs` and `deploy/local/check_queries.py`).

-- name: partner_statement
-- A partner's commissions with where each stands and why it was credited: the touchpoints
-- (kind, link, code, click id, UTM, landing domain) the attribution names as evidence.
SELECT
    c.commission_id, c.line_kind, c.order_id, c.status, c.amount, c.currency,
    c.hold_until, c.approved_at, c.payout_id,
    e.evidence_kinds, e.evidence_links, e.evidence_codes, e.evidence_click_ids,
    e.evidence_utm_sources, e.evidence_utm_campaigns, e.evidence_domains
FROM (
    SELECT commission_id, line_kind, order_id, status, amount, currency, hold_until,
           approved_at, payout_id, attribution_id, partner_id
    FROM commissions FINAL
    WHERE partner_id = 'p-travelblog' AND program_id = 'sandals-eu'
) AS c
ALL LEFT JOIN (
    SELECT attribution_id, partner_id,
           groupArray(kind) AS evidence_kinds,
           groupArray(ifNull(link_id, '')) AS evidence_links,
           groupArray(ifNull(code, '')) AS evidence_codes,
           groupArray(ifNull(click_id, '')) AS evidence_click_ids,
           groupArray(ifNull(utm_source, '')) AS evidence_utm_sources,
           groupArray(ifNull(utm_campaign, '')) AS evidence_utm_campaigns,
           groupArray(ifNull(landing_domain, '')) AS evidence_domains
    FROM (SELECT * FROM attribution_evidence FINAL)
    WHERE partner_id = 'p-travelblog'
    GROUP BY attribution_id, partner_id
) AS e USING (attribution_id, partner_id)
ORDER BY c.hold_until, c.commission_id;

-- name: payout_trace
-- One payout traced down (here the demo partner's first; or name one: payout_id = 'pay-…'):
-- each item, the commission's order and attribution, and the
-- touchpoints that earned it (the credit's touchpoint ids; a refund or clawback line points
-- at the commission it corrects).
SELECT payout_id, commission_id, line_kind, amount, currency, order_id, attribution_id,
       status, touchpoint_ids
FROM (
    SELECT i.payout_id, i.commission_id, i.line_kind, i.amount, i.currency,
           c.order_id, c.attribution_id, c.status, c.credited_commission_id
    FROM (SELECT * FROM payout_items FINAL
          WHERE payout_id = (SELECT min(payout_id) FROM payouts FINAL
                             WHERE program_id = 'sandals-eu' AND partner_id = 'p-travelblog')) AS i
    ALL LEFT JOIN (
        SELECT commission_id, order_id, attribution_id, status,
               ifNull(of_commission_id, commission_id) AS credited_commission_id
        FROM commissions FINAL
    ) AS c USING (commission_id)
) AS ic
ALL LEFT JOIN (
    SELECT commission_id AS credited_commission_id, touchpoint_ids
    FROM attribution_credits FINAL
) AS cr USING (credited_commission_id)
ORDER BY commission_id;

-- name: payout_trace_touchpoints
-- The touchpoints behind one payout, one row each: what happened, when, through which
-- link, code, channel and campaign.
SELECT t.event_id, t.kind, t.occurred_at, t.partner_id, t.link_id, t.code, t.channel,
       t.utm_source, t.utm_campaign, t.landing_domain
FROM (SELECT * FROM touchpoints FINAL) AS t
WHERE t.event_id IN (
    SELECT arrayJoin(touchpoint_ids) FROM attribution_credits FINAL
    WHERE commission_id IN (
        SELECT ifNull(of_commission_id, commission_id) FROM commissions FINAL
        WHERE commission_id IN (
            SELECT commission_id FROM payout_items FINAL
            WHERE payout_id = (SELECT min(payout_id) FROM payouts FINAL
                               WHERE program_id = 'sandals-eu' AND partner_id = 'p-travelblog'))))
ORDER BY t.occurred_at, t.event_id;

-- name: reconciliation_payout_totals
-- Every payout's amount against the sum of its items; `difference` must be 0 everywhere.
SELECT p.payout_id, p.partner_id, p.currency, p.status, p.amount,
       i.items_amount, i.items, p.item_count, p.amount - i.items_amount AS difference
FROM (SELECT * FROM payouts FINAL) AS p
ALL LEFT JOIN (
    SELECT payout_id, sum(amount) AS items_amount, count() AS items
    FROM payout_items FINAL GROUP BY payout_id
) AS i USING (payout_id)
ORDER BY p.payout_id;

-- name: reconciliation_paid_once
-- Commissions in more than one payout that was not failed; must return no rows.
SELECT commission_id, count() AS payouts, groupArray(payout_id) AS payout_ids
FROM (SELECT * FROM payout_items FINAL)
WHERE payout_id IN (SELECT payout_id FROM payouts FINAL WHERE status != 'failed')
GROUP BY commission_id
HAVING payouts > 1;

-- name: totals_by_status
-- Money per program, currency and status, exact to the minor unit.
SELECT program_id, currency, status, line_kind, count() AS lines, sum(amount) AS amount
FROM commissions FINAL
GROUP BY program_id, currency, status, line_kind
ORDER BY program_id, currency, status, line_kind;

-- name: risk_summary
-- Risk per partner and (partner, SharedId) in each program: current level and Risk %, with
-- the reason codes behind its flagged actions in the level's window and how many actions
-- each fired on (internal: never show the codes to partners). A partner's own level counts
-- all its flagged actions in the program; a SharedId's only those of that SharedId. Matched
-- on program, partner, SharedId and window: another program's flags never show up here.
SELECT l.subject_id, l.program_id, l.partner_id, l.shared_id, l.level, l.risk_percent,
       l.scored_actions, l.flagged_actions, l.window_days, r.reason_codes, r.reason_actions
FROM (
    SELECT subject_id, program_id, partner_id, shared_id, level, risk_percent, scored_actions,
           flagged_actions, window_days
    FROM risk_levels FINAL
) AS l
ALL LEFT JOIN (
    SELECT subject_id, groupArray(code) AS reason_codes, groupArray(actions) AS reason_actions
    FROM (
        SELECT subject_id, code, uniqExact(action_id) AS actions
        FROM (
            SELECT s.action_id AS action_id, s.code AS code, s.occurred_at AS occurred_at,
                   v.subject_id AS subject_id, v.window_start AS window_start
            FROM (
                -- Each flagged action under its partner ('') and under its SharedId.
                SELECT action_id, program_id, partner_id, code, occurred_at, sid
                FROM (
                    SELECT action_id, program_id, partner_id, code, occurred_at,
                           ['', ifNull(shared_id, '')] AS sids
                    FROM risk_scores FINAL ARRAY JOIN reason_codes AS code
                    WHERE flagged = 1
                ) ARRAY JOIN sids AS sid
            ) AS s
            ALL INNER JOIN (
                SELECT subject_id, program_id, partner_id, ifNull(shared_id, '') AS sid,
                       updated_at - window_days * 86400 AS window_start
                FROM risk_levels FINAL
            ) AS v USING (program_id, partner_id, sid)
        )
        WHERE occurred_at >= window_start
        GROUP BY subject_id, code
        ORDER BY subject_id, actions DESC, code
    )
    GROUP BY subject_id
) AS r USING (subject_id)
ORDER BY l.program_id, l.partner_id, l.subject_id;

-- name: performance_by_channel
-- Performance per program, channel and UTM source/campaign: touchpoints, and per currency
-- the conversions credited to partners through them (by each attribution's latest piece of
-- evidence), their revenue and commission.
SELECT t.program_id, t.channel, t.utm_source, t.utm_campaign, t.touchpoints,
       c.currency, c.conversions, c.revenue_minor, c.commission
FROM (
    SELECT program_id, channel, ifNull(utm_source, '') AS utm_source,
           ifNull(utm_campaign, '') AS utm_campaign, count() AS touchpoints
    FROM touchpoints FINAL
    GROUP BY program_id, channel, utm_source, utm_campaign
) AS t
ALL LEFT JOIN (
    SELECT program_id, channel, utm_source, utm_campaign, currency,
           uniqExact(attribution_id) AS conversions,
           sum(revenue) AS revenue_minor, sum(commission) AS commission
    FROM (
        SELECT attribution_id, program_id, currency, revenue, commission
        FROM (SELECT attribution_id, any(program_id) AS program_id, any(currency) AS currency,
                     sum(revenue_minor) AS revenue, sum(commission) AS commission
              FROM attribution_credits FINAL GROUP BY attribution_id)
    ) AS cr
    ALL INNER JOIN (
        SELECT attribution_id,
               ifNull(argMax(channel, occurred_at), '') AS channel,
               ifNull(argMax(utm_source, occurred_at), '') AS utm_source,
               ifNull(argMax(utm_campaign, occurred_at), '') AS utm_campaign
        FROM attribution_evidence FINAL GROUP BY attribution_id
    ) AS ev USING (attribution_id)
    GROUP BY program_id, channel, utm_source, utm_campaign, currency
) AS c USING (program_id, channel, utm_source, utm_campaign)
ORDER BY t.program_id, t.touchpoints DESC, c.currency;

-- name: orders_by_month
-- Orders and revenue per program, month, currency and kind, each order once: a platform that
-- re-sends an order under a new event id adds a `conversions` row, and `conversions_current`
-- keeps the first, as the attributor does.
SELECT program_id, toStartOfMonth(occurred_at) AS month, currency, kind,
       count() AS orders, sum(amount) AS amount
FROM conversions_current
GROUP BY program_id, month, currency, kind
ORDER BY program_id, month, currency, kind;
