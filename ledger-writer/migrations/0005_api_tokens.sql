-- API tokens of the partner API (`partner-api token issue|revoke|list`). Only a SHA-256 of each
-- token's secret is stored (the secret is 32 random bytes, shown once when issued). A token is
-- scoped to one program and, for partners, one partner; operators' tokens have partner_id ''.
-- Revoking writes a newer version with revoked = 1. In the partner-safe database, so the API
-- runs as a user granted that database only.
CREATE TABLE IF NOT EXISTS `{partner_database}`.api_tokens (
    token_id String,
    secret_sha256 String,
    scope String,
    program_id String,
    partner_id String,
    label String,
    issued_by String,
    issued_at DateTime,
    revoked UInt8,
    revoked_by String,
    revoked_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY token_id;
