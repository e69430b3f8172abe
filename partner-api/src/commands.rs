//! The commands operators run (with a ClickHouse user that may write the partner database):
//! `token issue|revoke|list` — a token's secret is printed once and never stored — and
//! `claims list|resolve` for the claims the API could not answer.

use chrono::Utc;
use clickhouse::Client;

use crate::config::ApiConfig;
use crate::queries::{self, TokenRow};
use crate::token::Scope;

/// A command's failure, worded for the person running it.
#[derive(Debug)]
pub struct CommandError(pub String);

fn ch(e: clickhouse::error::Error) -> CommandError {
    CommandError(format!("clickhouse: {}", runtime::clickhouse::describe(&e)))
}

/// The partner database, migrated, and its name.
async fn database(config: &ApiConfig) -> Result<(Client, String), CommandError> {
    let server = ledger_writer::store::connect(&config.clickhouse)
        .map_err(|e| CommandError(e.to_string()))?;
    let database = &config.clickhouse.database;
    ledger_writer::store::migrations::migrate(&server, database)
        .await
        .map_err(|e| CommandError(e.to_string()))?;
    let partner_database = ledger_writer::store::migrations::partner_database(database);
    Ok((server.with_database(database), partner_database))
}

fn random_40() -> Result<[u8; 40], CommandError> {
    runtime::api_key::random_bytes::<40>()
        .map_err(|e| CommandError(format!("cannot read /dev/urandom: {e}")))
}

async fn write(
    db: &Client,
    pdb: &str,
    row: &TokenRow,
    revoked_by: &str,
) -> Result<(), CommandError> {
    db.query(&format!(
        "INSERT INTO `{pdb}`.api_tokens (token_id, secret_sha256, scope, program_id, partner_id, label, issued_by, issued_at, revoked, revoked_by, revoked_at, version) \
         VALUES (?, ?, ?, ?, ?, ?, ?, toDateTime(?), ?, ?, toDateTime(?), ?)"
    ))
    .bind(&row.token_id)
    .bind(&row.secret_sha256)
    .bind(&row.scope)
    .bind(&row.program_id)
    .bind(&row.partner_id)
    .bind(&row.label)
    .bind(&row.issued_by)
    .bind(row.issued_at)
    .bind(row.revoked)
    .bind(revoked_by)
    .bind(if row.revoked == 1 { Utc::now().timestamp() } else { 0 })
    .bind(u64::try_from(Utc::now().timestamp_micros()).unwrap_or_default())
    .execute()
    .await
    .map_err(ch)
}

/// Issues a token for `scope`; returns the text to hand over (shown once).
pub async fn issue(
    config: &ApiConfig,
    scope: &Scope,
    label: &str,
    actor: &str,
) -> Result<String, CommandError> {
    let (db, pdb) = database(config).await?;
    let (text, token_id, hash) = crate::token::issue(&random_40()?);
    let row = TokenRow {
        token_id: token_id.clone(),
        secret_sha256: hash,
        scope: scope.kind().into(),
        program_id: scope.program_id().into(),
        partner_id: scope.partner_id().into(),
        label: label.into(),
        issued_by: actor.into(),
        issued_at: u32::try_from(Utc::now().timestamp()).unwrap_or_default(),
        revoked: 0,
    };
    write(&db, &pdb, &row, "").await?;
    Ok(format!(
        "token {token_id} issued ({} of {}{}); hand this over now, it is not stored:\n{text}\n",
        row.scope,
        row.program_id,
        if row.partner_id.is_empty() {
            String::new()
        } else {
            format!(", partner {}", row.partner_id)
        },
    ))
}

/// Revokes a token (effective within `PARTNER_API_TOKEN_CACHE_SECONDS`).
pub async fn revoke(
    config: &ApiConfig,
    token_id: &str,
    actor: &str,
) -> Result<String, CommandError> {
    let (db, pdb) = database(config).await?;
    let row: Option<TokenRow> = db
        .query(&queries::token(&pdb))
        .bind(token_id)
        .fetch_optional()
        .await
        .map_err(ch)?;
    let Some(mut row) = row else {
        return Err(CommandError(format!("no token {token_id}")));
    };
    if row.revoked == 1 {
        return Ok(format!("token {token_id} was already revoked\n"));
    }
    row.revoked = 1;
    write(&db, &pdb, &row, actor).await?;
    Ok(format!(
        "token {token_id} revoked; the API refuses it within {} s\n",
        config.token_cache.as_secs()
    ))
}

/// The tokens of a program (never their secrets).
pub async fn list(config: &ApiConfig, program: &str) -> Result<String, CommandError> {
    let (db, pdb) = database(config).await?;
    let rows: Vec<TokenRow> = db
        .query(&queries::tokens(&pdb))
        .bind(program)
        .fetch_all()
        .await
        .map_err(ch)?;
    let mut out = String::from("token_id\tscope\tpartner\tlabel\tissued_by\tissued_at\trevoked\n");
    for r in rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r.token_id,
            r.scope,
            r.partner_id,
            r.label,
            r.issued_by,
            crate::views::time(r.issued_at).as_str().unwrap_or_default(),
            if r.revoked == 1 { "yes" } else { "no" }
        ));
    }
    Ok(out)
}

/// A program's claims with `status` (`open` by default: the ones waiting for an operator).
pub async fn claims_list(
    config: &ApiConfig,
    program: &str,
    status: &str,
) -> Result<String, CommandError> {
    let store = claims_store(config).await?;
    let rows = store
        .claims_with_status(program, status)
        .await
        .map_err(|e| CommandError(e.0))?;
    let mut out = String::from("claim_id\tpartner\tsubmitted_at\tanswer\torder\n");
    for r in rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            r.claim_id,
            r.partner_id,
            crate::views::time(r.submitted_at)
                .as_str()
                .unwrap_or_default(),
            r.answer,
            r.order_reference
        ));
    }
    Ok(out)
}

/// Resolves an open claim with an operator's answer, which the partner then reads.
pub async fn claims_resolve(
    config: &ApiConfig,
    claim_id: &str,
    resolution: &str,
    actor: &str,
) -> Result<String, CommandError> {
    if resolution.trim().is_empty() {
        return Err(CommandError(
            "--resolution must say what was decided".into(),
        ));
    }
    let store = claims_store(config).await?;
    let Some(mut row) = store
        .find_claim(claim_id)
        .await
        .map_err(|e| CommandError(e.0))?
    else {
        return Err(CommandError(format!("no claim {claim_id}")));
    };
    if row.status != "open" {
        return Err(CommandError(format!(
            "claim {claim_id} is {} (answered at once or resolved before); only open claims are resolved",
            row.status
        )));
    }
    row.status = "resolved".into();
    row.resolution = resolution.trim().to_string();
    row.resolved_by = actor.to_string();
    row.updated_at = u32::try_from(Utc::now().timestamp()).unwrap_or_default();
    crate::claim_log::ClaimLog::ensure_topic(config)
        .await
        .map_err(|e| CommandError(format!("the claims topic: {e}")))?;
    crate::claim_log::ClaimLog::new(config)
        .map_err(|e| CommandError(e.to_string()))?
        .record(&store, &row)
        .await
        .map_err(|e| CommandError(format!("the resolution was not recorded: {}", e.0)))?;
    Ok(format!(
        "claim {claim_id} resolved; partner {} sees the resolution\n",
        row.partner_id
    ))
}

async fn claims_store(config: &ApiConfig) -> Result<crate::store::Store, CommandError> {
    let (db, _) = database(config).await?;
    Ok(crate::store::Store::new(
        db,
        &config.clickhouse.database,
        config.token_cache,
    ))
}
