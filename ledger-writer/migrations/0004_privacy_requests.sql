-- The audit trail of erasure requests (`privacy erase`): who asked, when, and what every
-- store did. The subject is recorded only as a keyed hash (PRIVACY_SUBJECT_KEY), so the
-- record proves an erasure without naming the person; a second request for the same subject
-- finds the first by that hash.
CREATE TABLE IF NOT EXISTS privacy_requests (
    request_id String,
    program_id String,
    subject_hash String,
    actor String,
    requested_at DateTime,
    completed_at DateTime,
    receipt String
) ENGINE = ReplacingMergeTree() ORDER BY request_id;
