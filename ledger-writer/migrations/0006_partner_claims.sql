-- Missing-commission claims (partner API): a partner names an order (its id, or its date and
-- amount); the API answers at once from the attribution record when it can (credited, lost
-- and why, no touchpoint of theirs) and keeps every claim here. One it cannot answer (the
-- order is not known) stays `open` for operators (`partner-api claims resolve`); the partner
-- sees its status. Newer versions replace older ones.
CREATE TABLE IF NOT EXISTS `{partner_database}`.partner_claims (
    claim_id String,
    program_id String,
    partner_id String,
    order_reference String,
    answer String,
    detail String,
    status String,
    resolution String,
    resolved_by String,
    submitted_at DateTime,
    updated_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (program_id, partner_id, claim_id);
