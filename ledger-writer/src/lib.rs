//! Ledger writer: the commission ledger (pure state machine in [`ledger`]), payouts and
//! reviews as commands, ClickHouse analytics rows and the finance topic.

pub mod app;
pub mod authority;
pub mod cli;
pub mod config;
pub mod ledger;
pub mod metrics;
pub mod store;
