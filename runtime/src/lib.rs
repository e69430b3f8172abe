//! Service plumbing shared by every pipeline service (DESIGN.md §2, §5, §7): configuration
//! from documented environment variables, logging, Prometheus metrics and health on an admin
//! port, graceful shutdown, Kafka clients, the at-least-once consumer loop and the dead-letter
//! writer. Domain logic never lives here.

pub mod admin;
pub mod api_key;
#[cfg(feature = "clickhouse")]
pub mod clickhouse;
pub mod config;
pub mod connection;
pub mod consumer_loop;
pub mod dead_letter;
pub mod error;
pub mod health;
pub mod kafka;
pub mod metrics;
pub mod privacy;
pub mod secret;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod stateful;
pub mod telemetry;
pub mod topic_reader;

pub use config::{ConfigError, Env, EnvVar};
pub use consumer_loop::{Input, Processor};
pub use dead_letter::DeadLetterWriter;
pub use error::{encode, Disposition, RuntimeError};
pub use health::Health;
pub use kafka::{Output, Producer};
pub use secret::{Secret, SecretBytes};
pub use settings::CommonConfig;
