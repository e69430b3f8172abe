//! ClickHouse: versioned migrations, row types and the batched writer.

pub mod migrations;
pub mod rows;
pub mod sink;

pub use sink::{connect, ClickHouseConfig, Sink};
