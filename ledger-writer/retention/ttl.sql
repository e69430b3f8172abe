-- Retention of personal analytics data on current ClickHouse (20.x and later): TTLs the
-- server applies as it merges. {days} is CLICKHOUSE_PERSONAL_RETENTION_DAYS. Touchpoints
-- (clicks, page views, referrers) expire whole; conversions and attributions keep their money
-- and ids and lose the person (column TTL resets a column to its default). The ledger,
-- payouts and the partner database hold no personal data and have no TTL: finance keeps them.
ALTER TABLE touchpoints MODIFY TTL occurred_at + INTERVAL {days} DAY;
ALTER TABLE conversions MODIFY COLUMN customer_id Nullable(String) TTL occurred_at + INTERVAL {days} DAY;
ALTER TABLE conversions MODIFY COLUMN visitor_id Nullable(String) TTL occurred_at + INTERVAL {days} DAY;
ALTER TABLE attributions MODIFY COLUMN customer_id Nullable(String) TTL occurred_at + INTERVAL {days} DAY;
ALTER TABLE attributions MODIFY COLUMN attribution_key String TTL occurred_at + INTERVAL {days} DAY;
ALTER TABLE attribution_evidence MODIFY COLUMN click_id Nullable(String) TTL occurred_at + INTERVAL {days} DAY;
