//! Reference data (DESIGN.md §3): programs, partners, links, codes and commission rules.
//!
//! - `file` — the human-edited TOML file and its validation (every problem, with its line);
//! - `catalog` — the in-memory index services look things up in (pure);
//! - `publish` — file → compacted topic, with tombstones for removed entities; `refresh`
//!   re-sends live records before the topic's retention would take them (`copies`);
//! - `follow` — topic → catalogue at start (readiness waits for it) and on every change.
#![deny(missing_docs)]

pub mod catalog;
pub mod copies;
mod fields;
pub mod file;
pub mod follow;
pub mod host;
pub mod publish;
pub mod signing;

pub use catalog::Catalog;
pub use file::{parse, FileError, ReferenceSet};
pub use follow::{follow, follow_until_loaded, spawn_follower, ReferenceData, ReferenceMetrics};

/// The revision recorded on published records: `sha256:` and the first 16 hex digits of the
/// file's SHA-256.
pub fn revision_of(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The publisher's principal.
pub const REFERENCE_PUBLISH_PRINCIPAL: runtime::EnvVar = runtime::EnvVar {
    name: "REFERENCE_PUBLISH_PRINCIPAL",
    default: Some(""),
    doc: "`reference publish`: the principal records are signed as (with `REFERENCE_PUBLISH_KEY`, its entry in the services' `REFERENCE_PUBLISHER_KEYS`).",
};
/// The publisher's key.
pub const REFERENCE_PUBLISH_KEY: runtime::EnvVar = runtime::EnvVar {
    name: "REFERENCE_PUBLISH_KEY",
    default: Some(""),
    doc: "Secret, `reference publish`: that principal's key (base64, 32+ random bytes).",
};

/// The signer `reference publish` uses, when `REFERENCE_PUBLISH_PRINCIPAL` and
/// `REFERENCE_PUBLISH_KEY` are set (problems are recorded in `env`).
pub fn publisher_signer(env: &mut runtime::Env) -> Option<(String, runtime::SecretBytes)> {
    runtime::secret::signer_from_env(env, &REFERENCE_PUBLISH_PRINCIPAL, &REFERENCE_PUBLISH_KEY)
}
