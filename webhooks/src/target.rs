//! Where deliveries may go (pure): an endpoint URL must be http(s) with a host, and every
//! address its host resolves to must be public — not loopback, private, link-local, shared
//! (CGNAT), unique-local, multicast or unspecified — unless `WEBHOOKS_ALLOW_PRIVATE_TARGETS`
//! says otherwise (tests, and endpoints inside a private network on purpose). Checked on the
//! addresses the connection then uses, so a name cannot resolve to a public address for the
//! check and a private one for the request.

use std::net::IpAddr;

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// True for an address reachable from the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Checks the addresses `host` resolved to.
pub fn check(host: &str, resolved: &[IpAddr], allow_private: bool) -> Result<(), Refused> {
    if resolved.is_empty() {
        return Err(Refused(format!("{host} resolves to no address")));
    }
    if allow_private {
        return Ok(());
    }
    match resolved.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(Refused(format!(
            "{host} resolves to {ip}, which is not a public address (WEBHOOKS_ALLOW_PRIVATE_TARGETS)"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_refused_unless_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
            assert!(
                check("h", &[ip("93.184.216.34"), ip(private)], false).is_err(),
                "{private}"
            );
            assert!(check("h", &[ip(private)], true).is_ok());
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        assert!(check("h", &[], true).is_err());
    }
}
