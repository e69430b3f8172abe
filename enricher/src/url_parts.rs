//! What a landing or referrer URL says: its normalised host, UTM parameters, ad-platform click
//! ids and referral parameters. Pure.
//!
//! Rules, each with worked examples in the tests:
//! - a URL without a scheme is read as `https://` (`shop.example.com/?a=1`);
//! - parameter names compare case-insensitively (`UTM_Source`), values are percent- and
//!   `+`-decoded and trimmed; an empty value counts as absent;
//! - a duplicated parameter keeps its first non-empty value;
//! - parameters in the fragment (`#/landing?utm_source=x`, as single-page apps write them)
//!   are read only for names the query does not have.
//!
//! Most URLs are plain (`https://shop.example/p?utm_source=x`): those are split by hand
//! ([`split_plain`]); anything else goes through the WHATWG parser of the `url` crate. A
//! property test holds the two to the same result.

use schemas::touchpoint::{AdClickId, Utm};
use url::Url;

/// Query parameters of ad platforms' click ids: a landing URL carrying one is paid traffic.
pub const AD_CLICK_PARAMETERS: [&str; 12] = [
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "twclid",
    "li_fat_id",
    "epik",
    "sccid",
    "yclid",
];

/// A parsed URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// Normalised host (lower-case ASCII, no `www.`), when the URL has a domain.
    pub host: Option<String>,
    /// Parameters, names lower-cased, in order, first non-empty value per name.
    pub params: Vec<(String, String)>,
}

impl UrlParts {
    /// Parses `text`; an unparseable URL has no host and no parameters.
    pub fn parse(text: &str) -> UrlParts {
        let text = text.trim();
        match split_plain(text) {
            Some(plain) => UrlParts::from_split(plain.host, plain.query, plain.fragment),
            None => UrlParts::parse_whatwg(text),
        }
    }

    /// The normalised host of `text` alone (a referrer's parameters say nothing we use).
    pub fn host_of(text: &str) -> Option<String> {
        let text = text.trim();
        match split_plain(text) {
            Some(plain) => reference::host::normalise(plain.host).ok(),
            None => UrlParts::parse_whatwg(text).host,
        }
    }

    /// Parses `text` with the `url` crate, as browsers read URLs.
    fn parse_whatwg(text: &str) -> UrlParts {
        let parsed = Url::parse(text)
            .ok()
            .filter(|u| u.has_host())
            .or_else(|| Url::parse(&format!("https://{text}")).ok());
        let Some(url) = parsed else {
            return UrlParts::default();
        };
        UrlParts::from_split(
            url.host_str().unwrap_or_default(),
            url.query(),
            url.fragment(),
        )
    }

    fn from_split(host: &str, query: Option<&str>, fragment: Option<&str>) -> UrlParts {
        let host = reference::host::normalise(host).ok();
        let mut params: Vec<(String, String)> = Vec::new();
        let mut add = |pairs: url::form_urlencoded::Parse<'_>| {
            for (name, value) in pairs {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim();
                if name.is_empty() || value.is_empty() || params.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                params.push((name, value.to_string()));
            }
        };
        add(url::form_urlencoded::parse(
            query.unwrap_or_default().as_bytes(),
        ));
        if let Some(fragment) = fragment {
            let query = fragment.split_once('?').map_or(fragment, |(_, q)| q);
            if query.contains('=') {
                add(url::form_urlencoded::parse(query.as_bytes()));
            }
        }
        UrlParts { host, params }
    }

    /// The first value of `name` (lower-case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// UTM parameters.
    pub fn utm(&self) -> Utm {
        let get = |name: &str| self.param(name).map(str::to_string);
        Utm {
            source: get("utm_source"),
            medium: get("utm_medium"),
            campaign: get("utm_campaign"),
            term: get("utm_term"),
            content: get("utm_content"),
        }
    }

    /// Ad-platform click ids, in URL order.
    pub fn ad_click_ids(&self) -> Vec<AdClickId> {
        self.params
            .iter()
            .filter(|(n, _)| AD_CLICK_PARAMETERS.contains(&n.as_str()))
            .map(|(n, v)| AdClickId {
                parameter: n.clone(),
                value: v.clone(),
            })
            .collect()
    }

    /// The value of the first of `names` present (referral parameters such as `ref`, `via`).
    pub fn first_of<'a>(&'a self, names: &'a [String]) -> Option<(&'a str, &'a str)> {
        names
            .iter()
            .find_map(|name| self.param(name).map(|v| (name.as_str(), v)))
    }
}

/// A URL split into the parts [`UrlParts`] reads, without the WHATWG parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain<'a> {
    /// The host as written (lower-case ASCII already).
    pub host: &'a str,
    /// What follows the first `?` up to the first `#`.
    pub query: Option<&'a str>,
    /// What follows the first `#`.
    pub fragment: Option<&'a str>,
}

/// Splits a plain URL, the shape nearly every landing page and referrer has: `http://` or
/// `https://`, a host of lower-case ASCII letters, digits, dots and hyphens whose last label
/// starts with a letter (so it is no IPv4 number) and that has no punycode label, no port and
/// no user; then only visible ASCII without `\`. For these the WHATWG parser changes nothing
/// we read (it percent-encodes a few characters of the query and fragment, which decoding the
/// parameters undoes). `None` for anything else.
pub fn split_plain(text: &str) -> Option<Plain<'_>> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    if !rest.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, after) = rest.split_at(end);
    let plain_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && host
            .trim_end_matches('.')
            .rsplit('.')
            .next()
            .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_lowercase()))
        && !host.split('.').any(|label| label.starts_with("xn--"));
    if !plain_host {
        return None;
    }
    let (before_fragment, fragment) = match after.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (after, None),
    };
    let query = before_fragment.split_once('?').map(|(_, query)| query);
    Some(Plain {
        host,
        query,
        fragment,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The hand split reads every URL it accepts as the WHATWG parser does, for URLs
        /// built from the characters that make parsers disagree.
        #[test]
        fn plain_urls_are_read_as_the_whatwg_parser_reads_them(
            scheme in prop_oneof![
                6 => Just("https://"), 3 => Just("http://"),
                1 => Just("HTTPS://"), 1 => Just("ftp://"), 1 => Just(""),
            ],
            host in prop_oneof![
                6 => "(www\\.)?([a-z0-9-]{1,8}\\.){0,3}[a-z][a-z0-9-]{0,4}\\.?",
                2 => "(www\\.)?[a-z0-9.-]{0,3}[a-zA-Z0-9-]{1,8}(\\.[a-z0-9-]{0,6}){0,2}\\.?(:[0-9]{1,6})?",
            ],
            host_tail in prop_oneof![
                12 => Just(""), 1 => Just(".xn--caf-dma"), 1 => Just(".0x1f"), 1 => Just(".123"),
                1 => Just("@evil.example"), 1 => Just("ü"), 1 => Just(".."), 1 => Just("."),
            ],
            path in "(/[a-zA-Z0-9%._~-]{0,6}){0,3}",
            query in proptest::option::of(prop_oneof![
                6 => "[a-zA-Z0-9_=&+%;\"'<>`{}|^?/#.-]{0,24}",
                1 => "[a-z0-9_=& \t\\\\ü-]{0,12}",
            ]),
            fragment in proptest::option::of("[a-zA-Z0-9_=&+%/?#<>\"-]{0,16}"),
        ) {
            let mut url = format!("{scheme}{host}{host_tail}{path}");
            if let Some(query) = query {
                url.push('?');
                url.push_str(&query);
            }
            if let Some(fragment) = fragment {
                url.push('#');
                url.push_str(&fragment);
            }
            let whatwg = UrlParts::parse_whatwg(url.trim());
            prop_assert_eq!(&UrlParts::parse(&url), &whatwg, "{}", url);
            prop_assert_eq!(UrlParts::host_of(&url), whatwg.host, "{}", url);
        }
    }

    #[test]
    fn plain_urls_are_split_by_hand_and_others_are_not() {
        let plain = split_plain("https://www.shop.example/p?utm_source=x#top").unwrap();
        assert_eq!(plain.host, "www.shop.example");
        assert_eq!(plain.query, Some("utm_source=x"));
        assert_eq!(plain.fragment, Some("top"));
        for other in [
            "https://WWW.Shop.Example/",
            "https://bücher.example/",
            "https://xn--bcher-kva.example/",
            "https://192.168.0.1/",
            "https://shop.example:8443/",
            "https://user@shop.example/",
            "https://shop.example/a b",
            "https://shop.example\\p",
            "shop.example/p",
            "//shop.example/p",
        ] {
            assert_eq!(split_plain(other), None, "{other}");
        }
    }

    #[test]
    fn awkward_urls_are_read_as_people_mean_them() {
        // (url, host, parameter, value)
        let cases: [(&str, Option<&str>, &str, Option<&str>); 12] = [
            (
                "https://shop.example.com/p?utm_source=news%20letter",
                Some("shop.example.com"),
                "utm_source",
                Some("news letter"),
            ),
            (
                "https://shop.example.com/p?utm_source=a+b",
                Some("shop.example.com"),
                "utm_source",
                Some("a b"),
            ),
            (
                "https://shop.example.com/p?utm_campaign=spring%2F2026%26more",
                Some("shop.example.com"),
                "utm_campaign",
                Some("spring/2026&more"),
            ),
            (
                "https://WWW.Example.COM/?UTM_Source=Blog",
                Some("example.com"),
                "utm_source",
                Some("Blog"),
            ),
            (
                "shop.example.com/landing?ref=trail",
                Some("shop.example.com"),
                "ref",
                Some("trail"),
            ),
            (
                "//shop.example.com/landing?ref=trail",
                Some("shop.example.com"),
                "ref",
                Some("trail"),
            ),
            (
                "https://example.com/?utm_source=&utm_source=second&utm_source=third",
                Some("example.com"),
                "utm_source",
                Some("second"),
            ),
            (
                "https://example.com/#/checkout?utm_medium=email",
                Some("example.com"),
                "utm_medium",
                Some("email"),
            ),
            (
                "https://example.com/?utm_medium=cpc#utm_medium=email",
                Some("example.com"),
                "utm_medium",
                Some("cpc"),
            ),
            (
                "https://example.com/#section-2",
                Some("example.com"),
                "section-2",
                None,
            ),
            (
                "https://bücher.example/?via=anna",
                Some("xn--bcher-kva.example"),
                "via",
                Some("anna"),
            ),
            (
                "https://xn--bcher-kva.example/?via=anna",
                Some("xn--bcher-kva.example"),
                "via",
                Some("anna"),
            ),
        ];
        for (url, host, name, value) in cases {
            let parts = UrlParts::parse(url);
            assert_eq!(parts.host.as_deref(), host, "{url}");
            assert_eq!(parts.param(name), value, "{url}");
        }
    }

    #[test]
    fn garbage_has_no_host_and_no_parameters() {
        assert_eq!(UrlParts::parse("::not a url::"), UrlParts::default());
        assert_eq!(UrlParts::parse(""), UrlParts::default());
    }

    #[test]
    fn utm_and_click_ids_are_collected() {
        let parts = UrlParts::parse(
            "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=tent&utm_content=ad1&GCLID=Cj0KCQ&fbclid=IwAR",
        );
        assert_eq!(
            parts.utm(),
            Utm {
                source: Some("google".into()),
                medium: Some("cpc".into()),
                campaign: Some("brand".into()),
                term: Some("tent".into()),
                content: Some("ad1".into()),
            }
        );
        let ids = parts.ad_click_ids();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            ids[0].parameter, "gclid",
            "names compare case-insensitively"
        );
        assert_eq!(ids[0].value, "Cj0KCQ");
        assert_eq!(parts.ad_click_ids()[1].value, "IwAR");
    }

    #[test]
    fn referral_parameters_are_tried_in_the_configured_order() {
        let parts = UrlParts::parse("https://example.com/?via=anna&ref=trail");
        let names = vec!["ref".to_string(), "via".to_string()];
        assert_eq!(parts.first_of(&names), Some(("ref", "trail")));
    }
}
