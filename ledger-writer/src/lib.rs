//! The ledger writer: commission decisions in, ledger entries, payouts and ClickHouse rows out
//! (DESIGN.md §3, §6).
//!
//! Not built yet: it is the subject of the ledger-writer issue.
