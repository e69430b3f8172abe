//! Ledger writer: the commission ledger (pure state machine in [`ledger`]), payouts and
//! reviews as commands, ClickHouse analytics rows and the finance topic.

pub mod ledger;
