//! Bearer keys of the HTTP edges (pure): `<prefix>_<id>_<secret>`, where the id (16 hex
//! digits) finds the stored entry and the secret (32 random bytes, 64 hex digits) is checked
//! against its stored SHA-256 in constant time. Only the hash is ever stored, so a leaked
//! table or topic grants nothing. The partner API's tokens are `atk_…`, the collector's write
//! keys `wk_…`.

use sha2::{Digest, Sha256};

/// A key as presented: its id and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedKey {
    /// The id (16 lowercase hex digits).
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PresentedKey {
    /// Parses `<prefix>_<16 hex>_<64 hex>`; `None` when `text` is not of that form.
    pub fn parse(prefix: &str, text: &str) -> Option<PresentedKey> {
        let rest = text.strip_prefix(prefix)?.strip_prefix('_')?;
        let (id, secret) = rest.split_once('_')?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(id, 16) || !hex(secret, 64) {
            return None;
        }
        Some(PresentedKey {
            id: id.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
        })
    }

    /// True when the secret's SHA-256 is `stored_sha256` (hex), compared in constant time.
    pub fn matches(&self, stored_sha256: &str) -> bool {
        crate::secret::constant_time_eq(
            secret_sha256(&self.secret).as_bytes(),
            stored_sha256.as_bytes(),
        )
    }
}

/// SHA-256 (lowercase hex) of a secret, as stored.
pub fn secret_sha256(secret: &str) -> String {
    schemas::ids::hex(&Sha256::digest(secret.as_bytes()))
}

/// A new key from 40 random bytes (8 for the id, 32 for the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// The text handed out once.
    pub text: String,
    /// The id to store.
    pub id: String,
    /// The secret's SHA-256 to store.
    pub secret_sha256: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Issues a `<prefix>_…` key from `random`.
pub fn issue(prefix: &str, random: &[u8; 40]) -> IssuedKey {
    let hex = schemas::ids::hex;
    let (id, secret) = (hex(&random[..8]), hex(&random[8..]));
    IssuedKey {
        text: format!("{prefix}_{id}_{secret}"),
        secret_sha256: secret_sha256(&secret),
        id,
    }
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_parses_and_matches_only_its_own_hash() {
        let mut random = [7u8; 40];
        random[39] = 9;
        let issued = issue("wk", &random);
        assert_eq!(issued.text.len(), 3 + 16 + 1 + 64);
        let presented = PresentedKey::parse("wk", &issued.text).expect("parses");
        assert_eq!(presented.id, issued.id);
        assert!(presented.matches(&issued.secret_sha256));
        random[39] = 10;
        assert!(!presented.matches(&issue("wk", &random).secret_sha256));
        assert!(
            !issued.secret_sha256.contains(&issued.text[20..]),
            "the secret is not stored"
        );
        assert!(
            !format!("{presented:?}{issued:?}").contains(&issued.text[20..]),
            "never printed"
        );
        assert_eq!(
            PresentedKey::parse("atk", &issued.text),
            None,
            "another kind of key"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "wk_",
            "Bearer x",
            "wk_0123456789abcdef",
            "wk_0123456789abcdeg_",
            &format!("wk_0123456789abcdef_{}", "a".repeat(63)),
            &format!("wkx_0123456789abcdef_{}", "a".repeat(64)),
        ] {
            assert_eq!(PresentedKey::parse("wk", bad), None, "{bad}");
        }
    }
}
