//! Deliberate handling of IP addresses, the one direct identifier in the raw contract.
//!
//! By default the raw IP never leaves ingest: downstream gets a keyed hash (HMAC-SHA256 under
//! a deployment secret — equal IPs still join for fraud signals, but the IP cannot be
//! recovered by hashing the 2^32 IPv4 space without the key) and a truncated network prefix
//! (IPv4 /24, IPv6 /48) for data-centre and velocity signals.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

runtime::config_enum!(
    /// What ingest keeps of a raw IP.
    IpMode {
        /// Keyed hash and truncated prefix only (default).
        Hash => "hash",
        /// Hash and prefix, plus the raw IP (only where policy allows).
        Keep => "keep",
        /// Nothing at all.
        Drop => "drop",
    }
);

/// The configured policy with its key.
#[derive(Clone)]
pub struct IpPolicy {
    mode: IpMode,
    key: Vec<u8>,
}

impl std::fmt::Debug for IpPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpPolicy")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// What is kept of one IP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFacts {
    /// Hex HMAC-SHA256.
    pub hash: Option<String>,
    /// `a.b.c.0/24` or `x:y:z::/48`.
    pub prefix: Option<String>,
    /// Raw IP (mode `keep` only).
    pub raw: Option<String>,
}

impl IpPolicy {
    /// A policy; `key` is ignored in mode `drop`.
    pub fn new(mode: IpMode, key: &[u8]) -> IpPolicy {
        IpPolicy {
            mode,
            key: key.to_vec(),
        }
    }

    /// Applies the policy to a parsed IP.
    pub fn apply(&self, ip: IpAddr) -> IpFacts {
        // An IPv4 client seen through a dual-stack socket is the same client.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.mode == IpMode::Drop {
            return IpFacts::default();
        }
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(ip.to_string().as_bytes());
        let hash = schemas::ids::hex(&mac.finalize().into_bytes());
        IpFacts {
            hash: Some(hash),
            prefix: Some(prefix(ip)),
            raw: (self.mode == IpMode::Keep).then(|| ip.to_string()),
        }
    }
}

fn prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{net}/48")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test IPs are valid")
    }

    #[test]
    fn hash_mode_keeps_a_keyed_hash_and_the_network_but_not_the_ip() {
        let facts = IpPolicy::new(IpMode::Hash, b"secret-key-123456").apply(ip("203.0.113.77"));
        assert_eq!(facts.prefix.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(facts.raw, None);
        let hash = facts.hash.expect("hashed");
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("203"));
    }

    #[test]
    fn the_hash_depends_on_the_key_and_joins_equal_ips() {
        let a = IpPolicy::new(IpMode::Hash, b"key-one-1234567890").apply(ip("198.51.100.1"));
        let b = IpPolicy::new(IpMode::Hash, b"key-two-1234567890").apply(ip("198.51.100.1"));
        let c = IpPolicy::new(IpMode::Hash, b"key-one-1234567890").apply(ip("::ffff:198.51.100.1"));
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.hash, c.hash, "IPv4-mapped IPv6 is the same client");
    }

    #[test]
    fn ipv6_is_truncated_to_a_48_bit_prefix() {
        let facts = IpPolicy::new(IpMode::Keep, b"k").apply(ip("2001:db8:abcd:12::1"));
        assert_eq!(facts.prefix.as_deref(), Some("2001:db8:abcd::/48"));
        assert_eq!(facts.raw.as_deref(), Some("2001:db8:abcd:12::1"));
    }

    #[test]
    fn drop_mode_keeps_nothing() {
        assert_eq!(
            IpPolicy::new(IpMode::Drop, b"").apply(ip("192.0.2.1")),
            IpFacts::default()
        );
    }
}
