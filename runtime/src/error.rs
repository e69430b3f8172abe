//! Errors of the shared plumbing, each classified by what the caller should do with it.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: try again (the client reconnects by itself).
    Retry,
    /// The input is bad: dead-letter it and move on.
    DeadLetter,
    /// The service cannot go on safely: stop without committing, exit non-zero, let the
    /// orchestrator restart it (uncommitted input is re-read: nothing is lost).
    Fatal,
}

/// Errors of the runtime crate.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A Kafka client call failed.
    #[error("kafka: {0}")]
    Kafka(#[source] KafkaError),
    /// No broker answered the metadata request.
    #[error("cannot reach Kafka at {servers}: {error}")]
    Unreachable {
        /// Bootstrap servers tried.
        servers: String,
        /// Client error.
        #[source]
        error: KafkaError,
    },
    /// The broker answered but this configuration can never connect (credentials, TLS): a
    /// permanent configuration error, not retried.
    #[error("Kafka at {servers} refuses this configuration: {reason}")]
    KafkaRefused {
        /// Bootstrap servers tried.
        servers: String,
        /// What is wrong and what to change.
        reason: String,
    },
    /// The broker finally rejected a produced message (after the client's retries).
    #[error("delivery to {topic} failed: {error}")]
    Delivery {
        /// Destination topic.
        topic: String,
        /// Client error.
        #[source]
        error: KafkaError,
    },
    /// The producer was dropped before reporting a delivery.
    #[error("delivery to {topic} was cancelled (producer closed)")]
    DeliveryCancelled {
        /// Destination topic.
        topic: String,
    },
    /// A topic could not be created.
    #[error("cannot create topic {topic}: {code}")]
    TopicCreation {
        /// Topic.
        topic: String,
        /// Broker error code.
        code: RDKafkaErrorCode,
    },
    /// A message could not be encoded.
    #[error("cannot encode {what}: {error}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Codec error.
        #[source]
        error: schemas::CodecError,
    },
    /// Local I/O (admin port, files, signals).
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        error: std::io::Error,
    },
    /// Metrics registration (a bug: duplicate metric names).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Shutdown took longer than the drain timeout.
    #[error("shutdown drain did not finish within {0:?}")]
    DrainTimeout(std::time::Duration),
    /// The consumer group gave this consumer no partitions after every forced rejoin, though
    /// it held some before (a broker restart): a fresh client (a restart) joins where this one
    /// could not.
    #[error("the consumer group gave this consumer no partitions after {rejoins} rejoins, though it held some before; stopping so a fresh client joins")]
    NoAssignment {
        /// Rejoins made.
        rejoins: u32,
    },
    /// Reading a compacted topic to its end made no progress.
    #[error(
        "reading {topic} partitions {partitions:?} to their end made no progress for {waited:?}"
    )]
    RestoreStalled {
        /// Topic.
        topic: String,
        /// How long nothing arrived.
        waited: std::time::Duration,
        /// Partitions not yet at their end.
        partitions: Vec<i32>,
    },
    /// State or reference data on a compacted topic is unusable.
    #[error("{topic}: {detail}")]
    State {
        /// Topic.
        topic: String,
        /// What is wrong.
        detail: String,
    },
    /// A store outside Kafka (ClickHouse) refused or could not take a write.
    #[error("{store}: {detail}")]
    Sink {
        /// Which store.
        store: &'static str,
        /// What failed.
        detail: String,
    },
}

impl RuntimeError {
    /// How the caller should react.
    pub fn disposition(&self) -> Disposition {
        match self {
            RuntimeError::Kafka(_) => Disposition::Retry,
            RuntimeError::Encode { .. } => Disposition::DeadLetter,
            RuntimeError::Unreachable { .. }
            | RuntimeError::KafkaRefused { .. }
            | RuntimeError::Delivery { .. }
            | RuntimeError::DeliveryCancelled { .. }
            | RuntimeError::TopicCreation { .. }
            | RuntimeError::Io { .. }
            | RuntimeError::Metrics(_)
            | RuntimeError::DrainTimeout(_)
            | RuntimeError::RestoreStalled { .. }
            | RuntimeError::NoAssignment { .. }
            | RuntimeError::State { .. }
            | RuntimeError::Sink { .. } => Disposition::Fatal,
        }
    }
}

/// Encodes an output (`what` names it in the error): a failure is a bug, not bad input.
pub fn encode<T: schemas::AvroMessage>(
    what: &'static str,
    message: &T,
) -> Result<Vec<u8>, RuntimeError> {
    schemas::encode(message).map_err(|error| RuntimeError::Encode { what, error })
}
