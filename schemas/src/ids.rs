//! Deterministic ids: the same inputs give the same id on every run and every instance, which
//! is what lets every consumer de-duplicate a replayed output (DESIGN.md §5).

use sha2::{Digest, Sha256};

/// `<prefix>-` and the first 16 bytes of SHA-256 over the parts, each followed by a NUL so
/// that `("ab", "c")` and `("a", "bc")` differ.
pub fn deterministic_id(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(prefix.len() + 33);
    out.push_str(prefix);
    out.push('-');
    for byte in &digest[..16] {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}
