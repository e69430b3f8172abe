-- Specialist trust (the trust service). `trust_specialists` (partner database: the partner API
-- serves discovery and each specialist's own components from it): what each program's
-- marketplace shows of each specialist, the newest computation replacing older ones. Listed is
-- a rule (verified); score is Σ weight × component, the explanation (JSON) carries each
-- component with its weight and inputs, the quality markers with theirs, completeness per
-- field and the review aggregate. No reason codes, no reviewer data.
CREATE TABLE IF NOT EXISTS `{partner_database}`.trust_specialists (
    program_id String,
    specialist_id String,
    verification String,
    listed UInt8,
    not_listed_because Nullable(String),
    score Decimal(18, 4),
    completeness_percent Int32,
    review_count Int32,
    review_average Decimal(18, 2),
    explanation String,
    updated_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (program_id, specialist_id);

-- The verification history: every command, accepted or refused (and why), with its actor,
-- reason and evidence checklist. Operators' names are in it: not in the partner database.
CREATE TABLE IF NOT EXISTS trust_verification (
    command_id String,
    specialist_id String,
    action String,
    accepted UInt8,
    from_status String,
    to_status String,
    refusal Nullable(String),
    actor String,
    reason String,
    identity_checked UInt8,
    credential_checked UInt8,
    agreement_checked UInt8,
    at DateTime,
    at_ms Int64
) ENGINE = ReplacingMergeTree() ORDER BY (specialist_id, at_ms, command_id);
