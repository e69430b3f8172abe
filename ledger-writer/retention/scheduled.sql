-- Retention of personal analytics data on ClickHouse 18.16, which has no TTL: the same
-- effect as ttl.sql by mutations the ledger-writer runs every
-- CLICKHOUSE_RETENTION_INTERVAL_SECONDS, each only when it has rows to change (count first:
-- the statement after `count:` counts, the next one changes).
-- count: SELECT count() FROM touchpoints WHERE occurred_at < now() - INTERVAL {days} DAY;
ALTER TABLE touchpoints DELETE WHERE occurred_at < now() - INTERVAL {days} DAY;
-- count: SELECT count() FROM conversions WHERE occurred_at < now() - INTERVAL {days} DAY AND (customer_id IS NOT NULL OR visitor_id IS NOT NULL);
ALTER TABLE conversions UPDATE customer_id = NULL, visitor_id = NULL WHERE occurred_at < now() - INTERVAL {days} DAY AND (customer_id IS NOT NULL OR visitor_id IS NOT NULL);
-- count: SELECT count() FROM attributions WHERE occurred_at < now() - INTERVAL {days} DAY AND (customer_id IS NOT NULL OR attribution_key != '');
ALTER TABLE attributions UPDATE customer_id = NULL, attribution_key = '' WHERE occurred_at < now() - INTERVAL {days} DAY AND (customer_id IS NOT NULL OR attribution_key != '');
-- count: SELECT count() FROM attribution_evidence WHERE occurred_at < now() - INTERVAL {days} DAY AND click_id IS NOT NULL;
ALTER TABLE attribution_evidence UPDATE click_id = NULL WHERE occurred_at < now() - INTERVAL {days} DAY AND click_id IS NOT NULL;
