//! The partner API (issue 20): partners and operators read the ledger's figures for a partner
//! over HTTP — statement lines with why each was credited, payouts traced to their lines, risk
//! levels — through the partner-safe database, with per-partner tokens.
//!
//! - `token` — token text, hash and scope rules (pure); `claims` — what a missing-commission
//!   claim may say and the answer the attribution record gives (pure);
//! - `queries` — the SQL each endpoint runs, always filtered on program and partner (pure);
//! - `views` — rows to JSON: money as decimal strings, RFC 3339 times (pure);
//! - `performance` — clicks, conversions, rates, revenue and commission by month and
//!   source (pure);
//! - `store` — ClickHouse reads and writes, the token cache; `claim_log` — each claim's answer
//!   published (for webhooks and as the record) before it is written; `commands` — the
//!   operators' token and claim commands;
//! - `http` — routes, authentication, parameters, errors; `app` — the running service.
#![deny(missing_docs)]

pub mod app;
pub mod claim_log;
pub mod claims;
pub mod commands;
pub mod config;
pub mod http;
pub mod performance;
pub mod queries;
pub mod store;
pub mod token;
pub mod views;
