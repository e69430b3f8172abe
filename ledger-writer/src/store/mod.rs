//! ClickHouse: versioned migrations, row types and the batched writer.

pub mod migrations;
pub mod retention;
pub mod rows;
pub mod sink;

pub use runtime::clickhouse::ClickHouseConfig;
pub use sink::{connect, Sink};
