//! Which specialists the trust service has verified, per program: a follower of the compacted
//! trust topic (`attrib.SpecialistTrust`, keyed `program/specialist`), on a thread of its own.
//! The whole topic is read before the scorer starts; later records apply as they arrive. A
//! decision made before a verification reached this follower holds the line; the trust
//! service approves such a line as soon as it sees it held, so the lag costs time, not money.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use runtime::settings::KafkaConfig;
use runtime::topic_reader::{Record, TopicReader};
use runtime::RuntimeError;
use schemas::SpecialistTrust;
use tokio_util::sync::CancellationToken;

/// Verification status by `program/specialist`.
#[derive(Debug, Default)]
pub struct VerifiedSpecialists {
    status: RwLock<HashMap<String, bool>>,
}

impl VerifiedSpecialists {
    /// Whether the trust service reports `partner` verified in `program`.
    pub fn is_verified(&self, program: &str, partner: &str) -> bool {
        let key = format!("{program}/{partner}");
        self.status
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .copied()
            .unwrap_or(false)
    }

    /// Applies one trust record (a tombstone forgets the pair).
    pub fn apply(&self, record: Record<'_>) {
        let Some(key) = record.key.map(|k| String::from_utf8_lossy(k).into_owned()) else {
            return;
        };
        let mut status = self
            .status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match record.payload {
            None => {
                status.remove(&key);
            }
            Some(bytes) => match schemas::decode::<SpecialistTrust>(bytes) {
                Ok(t) => {
                    status.insert(key, t.verification == "verified");
                }
                Err(e) => tracing::warn!(key, error = %e, "An unreadable trust record; skipped."),
            },
        }
    }
}

/// Reads `topic` whole, then follows it on a thread until `shutdown`.
pub fn follow(
    kafka: &KafkaConfig,
    topic: &str,
    shutdown: CancellationToken,
) -> Result<Arc<VerifiedSpecialists>, RuntimeError> {
    let reader = TopicReader::new(kafka, "attrib-risk-verified", topic, kafka.delivery_timeout)?;
    let partitions: Vec<i32> = (0..reader.partition_count()?).collect();
    let ends = reader.start(&partitions)?;
    let data = Arc::new(VerifiedSpecialists::default());
    let read = reader.read_to(&ends, |r| data.apply(r))?;
    tracing::info!(
        records = read,
        topic,
        "Specialists' verification status loaded."
    );
    let shared = Arc::clone(&data);
    std::thread::Builder::new()
        .name("verified-follower".into())
        .spawn(move || {
            while !shutdown.is_cancelled() {
                if let Err(e) = reader.follow(Duration::from_millis(250), |r| shared.apply(r)) {
                    tracing::warn!(error = %e, "Following the trust topic failed; retrying.");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            let _stopped = reader.stop();
        })
        .map_err(|error| RuntimeError::Io {
            context: "spawning the verification follower".into(),
            error,
        })?;
    Ok(data)
}
