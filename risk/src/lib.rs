//! The risk service (DESIGN.md §3, Risk): every attributed action checked by reason-coded
//! rules, Risk % and levels per partner and per partner SharedId, and each program's policy
//! turned into commission decisions for the ledger.
//!
//! Pure domain logic: [`rules`] (the signals and their thresholds), [`level`] (Risk % and
//! buckets), [`policy`] (payable, held or reversed), [`state`] (what is kept per program and
//! how each signal changes it), [`router`] (what is forwarded, keyed by program). Plumbing:
//! [`config`], [`metrics`], [`app`].
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod level;
pub mod metrics;
pub mod policy;
pub mod router;
pub mod rules;
pub mod state;
pub mod verified;
