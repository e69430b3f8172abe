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
        let parsed = Url::parse(text)
            .ok()
            .filter(|u| u.has_host())
            .or_else(|| Url::parse(&format!("https://{text}")).ok());
        let Some(url) = parsed else {
            return UrlParts::default();
        };
        let host = url
            .host_str()
            .and_then(|h| reference::host::normalise(h).ok());
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
        add(url.query_pairs());
        if let Some(fragment) = url.fragment() {
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

#[cfg(test)]
mod tests {
    use super::*;

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
