-- The webhooks' delivery log: one row per attempt (ReplacingMergeTree on attempt_id, so the
-- analytics loop's replays write nothing twice). No body: the partner-facing facts it carried
-- are in the ledger tables; the row says who was told what, when, and how it went.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    attempt_id String,
    delivery_id String,
    endpoint_id String,
    program_id String,
    partner_id String,
    event_type String,
    sequence Int64,
    attempt Int32,
    attempted_at DateTime,
    attempted_at_ms Int64,
    outcome String,
    status_code Int32,
    latency_ms Int64,
    error Nullable(String),
    next_attempt_at Nullable(DateTime)
) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(attempted_at)
ORDER BY (program_id, endpoint_id, delivery_id, attempt_id);
