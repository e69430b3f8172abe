//! Host names as programs' domains are matched: lower-case ASCII (IDNA/punycode), no trailing
//! dot, no leading `www.`. Used for the file's `domains` and for every URL's host, so
//! `WWW.Café.example.` and `xn--caf-dma.example` meet.

/// Normalises a host name, or says why it is not one.
pub fn normalise(host: &str) -> Result<String, String> {
    let trimmed = host.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("empty host name".into());
    }
    match url::Host::parse(trimmed) {
        Ok(url::Host::Domain(ascii)) => {
            if ascii.split('.').any(str::is_empty) {
                return Err(format!("{host:?} has an empty label"));
            }
            if !ascii.contains('.') {
                return Err(format!("{host:?} is not a public host name (no dot)"));
            }
            Ok(ascii
                .strip_prefix("www.")
                .map_or(ascii.clone(), str::to_string))
        }
        Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
            Err(format!("{host:?} is an IP address, not a domain"))
        }
        Err(e) => Err(format!("{host:?} is not a valid host name: {e}")),
    }
}

/// The host itself, then each parent domain: `a.shop.example.com`, `shop.example.com`,
/// `example.com` (never a bare top-level label).
pub fn candidates(host: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(host);
    std::iter::from_fn(move || {
        let current = rest?;
        rest = current
            .split_once('.')
            .map(|(_, parent)| parent)
            .filter(|parent| parent.contains('.'));
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise_to_lower_case_ascii_without_www_or_trailing_dot() {
        let cases = [
            ("Example.COM", "example.com"),
            ("www.example.com.", "example.com"),
            ("WWW.Shop.Example.com", "shop.example.com"),
            ("café.example", "xn--caf-dma.example"),
            ("xn--caf-dma.example", "xn--caf-dma.example"),
            ("www.bücher.de", "xn--bcher-kva.de"),
            (" example.org ", "example.org"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn non_domains_are_refused_with_a_reason() {
        for input in [
            "",
            "localhost",
            "192.168.0.1",
            "[::1]",
            "exa mple.com",
            "a..b",
        ] {
            assert!(normalise(input).is_err(), "{input:?} accepted");
        }
    }

    #[test]
    fn candidates_walk_up_to_the_registrable_part() {
        let all: Vec<&str> = candidates("a.shop.example.com").collect();
        assert_eq!(
            all,
            ["a.shop.example.com", "shop.example.com", "example.com"]
        );
        assert_eq!(
            candidates("example.com").collect::<Vec<_>>(),
            ["example.com"]
        );
    }
}
