//! Host names as programs' domains are matched: lower-case ASCII (IDNA/punycode), no trailing
//! dot, no leading `www.`. Used for the file's `domains` and for every URL's host, so
//! `WWW.Café.example.` and `xn--caf-dma.example` meet.

/// Normalises a host name, or says why it is not one.
pub fn normalise(host: &str) -> Result<String, String> {
    let trimmed = host.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("empty host name".into());
    }
    if let Some(plain) = plain(trimmed) {
        return Ok(plain.to_string());
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

/// A host that is already what [`normalise`] makes of it, without `www.`: labels of lower-case
/// ASCII letters, digits and hyphens, none empty, none punycode (those are checked by the IDNA
/// rules), the last starting with a letter (so it is no IPv4 number). Nearly every host a URL
/// carries; the rest go through `url::Host::parse`.
fn plain(host: &str) -> Option<&str> {
    let labels_are_plain = host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with("xn--")
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let (_, last) = host.rsplit_once('.')?;
    (labels_are_plain && last.starts_with(|c: char| c.is_ascii_lowercase()))
        .then(|| host.strip_prefix("www.").unwrap_or(host))
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
    fn plain_hosts_take_the_short_way_to_the_same_answer() {
        for host in [
            "example.com",
            "www.shop.example.com",
            "a-b.c-d.example",
            "-a.example",
            "a--b.example",
            "www.example",
            "x.y.z.w.example.org",
            "1.example.com",
            "a.b1",
        ] {
            assert!(plain(host).is_some(), "{host}");
            let whatwg = match url::Host::parse(host) {
                Ok(url::Host::Domain(ascii)) => ascii,
                other => panic!("{host}: {other:?}"),
            };
            let expected = whatwg.strip_prefix("www.").unwrap_or(&whatwg);
            assert_eq!(normalise(host).as_deref(), Ok(expected), "{host}");
        }
        for host in [
            "Example.com",
            "xn--caf-dma.example",
            "192.168.0.1",
            "1.2.3.0x1f",
            "a..b",
            "localhost",
            "café.example",
        ] {
            assert!(plain(host).is_none(), "{host}");
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
