//! Values that must never reach a log line: passwords, keys, tokens.

/// A configuration value whose `Debug` and `Display` print `<redacted>`; only
/// [`Secret::expose`] gives the value, at the one place that hands it to a client library.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Key bytes that must never reach a log line (a decoded [`decode_key`] result).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }

    /// The bytes, for the one place that keys a hash with them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// HMAC-SHA256 of `message` under `key`, lowercase hex: the signature of ledger commands and
/// reference records, and the keyed hash of erasure subjects.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    schemas::ids::hex(&hmac_bytes(key, message))
}

/// HMAC-SHA256 of `message` under `key`, raw.
pub fn hmac_bytes(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Standard-alphabet base64 with padding (RFC 4648 §4).
pub fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Equality that takes as long for every pair of the same length: for comparing MACs.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Principals and their keys, from a secret `principal:base64key,…` (each key 32+ random
/// bytes). Names only are printed.
#[derive(Clone, Default)]
pub struct PrincipalKeys(Vec<(String, SecretBytes)>);

impl PrincipalKeys {
    /// Parses `value` (`name` is the variable, for errors).
    pub fn parse(name: &str, value: &Secret) -> Result<PrincipalKeys, String> {
        let mut keys = Vec::new();
        for part in value
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (principal, key) = part
                .split_once(':')
                .ok_or_else(|| format!("{name}: each entry is `principal:base64key`"))?;
            let what = format!("{name} (key of `{}`)", principal.trim());
            let key = decode_key(&what, &Secret::new(key), 32)?;
            keys.push((principal.trim().to_string(), SecretBytes::new(key)));
        }
        Ok(PrincipalKeys(keys))
    }

    /// The key of `principal`.
    pub fn key(&self, principal: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(p, _)| p == principal)
            .map(|(_, k)| k.expose())
    }

    /// The principals' names.
    pub fn principals(&self) -> Vec<&str> {
        self.0.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// True when no principal is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for PrincipalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.principals()).finish()
    }
}

/// A command-line tool's signing identity: the principal in `principal_var` and its base64 key
/// in `key_var`, both set or neither (`None`). Problems are recorded in `env`.
pub fn signer_from_env(
    env: &mut crate::Env,
    principal_var: &crate::EnvVar,
    key_var: &crate::EnvVar,
) -> Option<(String, SecretBytes)> {
    let principal = env.string(principal_var);
    let key = Secret::new(env.string(key_var));
    match (principal.is_empty(), key.expose().is_empty()) {
        (true, true) => None,
        (false, false) => match decode_key(key_var.name, &key, 32) {
            Ok(bytes) => Some((principal, SecretBytes::new(bytes))),
            Err(problem) => {
                env.check(false, problem);
                None
            }
        },
        _ => {
            env.check(
                false,
                format!(
                    "{} and {} are set together or not at all",
                    principal_var.name, key_var.name
                ),
            );
            None
        }
    }
}

/// Words that mark a value copied from an example or a demo rather than generated.
const PLACEHOLDER_MARKS: [&str; 8] = [
    "replace",
    "change-me",
    "changeme",
    "example",
    "placeholder",
    "do-not-use",
    "demo-only",
    "your-key",
];

/// Decodes a secret key given as standard base64 (padding optional) and checks it is a real
/// key: at least `min_bytes` bytes once decoded, not a known placeholder, not a run of one
/// repeated byte. A key that is used as raw text, or copied from an example, makes keyed hashes
/// guessable, so the service must refuse it at start rather than run with it.
pub fn decode_key(name: &str, value: &Secret, min_bytes: usize) -> Result<Vec<u8>, String> {
    let text = value.expose().trim();
    let lower = text.to_ascii_lowercase();
    if let Some(mark) = PLACEHOLDER_MARKS.iter().find(|m| lower.contains(*m)) {
        return Err(format!(
            "{name} is a placeholder (it contains \"{mark}\"): generate a key with `head -c 32 /dev/urandom | base64`"
        ));
    }
    let key = decode_base64(text).ok_or_else(|| {
        format!("{name} must be base64 (generate one with `head -c 32 /dev/urandom | base64`)")
    })?;
    if key.len() < min_bytes {
        return Err(format!(
            "{name} decodes to {} bytes; at least {min_bytes} are required",
            key.len()
        ));
    }
    let decoded_lower = String::from_utf8_lossy(&key).to_ascii_lowercase();
    if PLACEHOLDER_MARKS.iter().any(|m| decoded_lower.contains(m))
        || key.iter().all(|b| *b == key[0])
    {
        return Err(format!("{name} is a placeholder, not a random key"));
    }
    Ok(key)
}

/// Strict standard-alphabet base64 (RFC 4648 §4), padding optional; `None` on any other byte
/// or an impossible length.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || (text.len() != body.len() && !text.len().is_multiple_of(4)) {
        return None;
    }
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
            assert_eq!(decode_base64(encoded).as_deref(), Some(plain.as_bytes()));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_base64(&encode_base64(&all)), Some(all));
    }

    #[test]
    fn base64_decodes_the_rfc_vectors_and_refuses_other_text() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(encoded).as_deref(), Some(plain.as_bytes()));
            assert_eq!(
                decode_base64(encoded.trim_end_matches('=')).as_deref(),
                Some(plain.as_bytes())
            );
        }
        for bad in ["Zg=", "Z", "Zm9v!", "Zm 9v", "Zg===", "demo-only-key"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_must_be_long_random_and_not_placeholders() {
        let check = |v: &str| decode_key("K", &Secret::new(v), 32);
        let good = "q83vEjRWeJq8ze8SNFZ4mrzN7xI0VniavM3vEjRWeJo=";
        assert_eq!(check(good).expect("a real key").len(), 32);
        for (value, expected) in [
            ("replace-with-32-random-bytes-base64", "placeholder"),
            ("demo-only-key-do-not-use-in-production", "placeholder"),
            ("integration-test-key-0001", "must be base64"),
            ("c2hvcnQta2V5", "decodes to 9 bytes"),
            (
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "placeholder",
            ),
            // base64 of "replace-with-a-real-key-please!!"
            (
                "cmVwbGFjZS13aXRoLWEtcmVhbC1rZXktcGxlYXNlISE=",
                "placeholder",
            ),
        ] {
            let err = check(value).expect_err(value);
            assert!(err.contains(expected), "{value}: {err}");
            assert!(!err.contains(value), "the value must not be echoed: {err}");
        }
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2, with a comma");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2, with a comma");
    }
}
