//! Traffic channel of a touchpoint. Pure. The first rule that applies wins:
//!
//! 1. **paid** — an ad-platform click id on the landing URL, or a paid `utm_medium`
//!    (`cpc`, `ppc`, `paid*`, `display`, `cpm`, `cpv`, `banner`);
//! 2. **referral** — a partner link or referral parameter resolved, or an affiliate-like
//!    `utm_medium` (`affiliate`, `referral`, `partner`);
//! 3. **email** — `utm_medium` `email`/`e-mail`/`newsletter`, or a webmail referrer;
//! 4. **organic search** — a search engine referrer;
//! 5. **social** — a social network referrer, or `utm_medium` `social`/`social-network`/`sm`;
//! 6. **referral** — any other external referrer, or a `utm_source` alone;
//! 7. **direct** — a landing URL without referrer (or from the program's own site);
//! 8. **unknown** — neither landing URL nor referrer (server-side events).

use schemas::touchpoint::{Channel, Utm};

/// Everything the channel rules look at.
#[derive(Debug, Clone, Copy)]
pub struct ChannelInput<'a> {
    /// The touchpoint had a landing URL.
    pub has_url: bool,
    /// Normalised referrer host, when there was a referrer.
    pub referrer_host: Option<&'a str>,
    /// The referrer is one of the program's own domains.
    pub referrer_is_internal: bool,
    /// UTM parameters.
    pub utm: &'a Utm,
    /// Ad-platform click ids were present.
    pub has_ad_click_id: bool,
    /// A partner link or referral parameter resolved.
    pub partner_link: bool,
}

const SEARCH_ENGINES: [&str; 10] = [
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "startpage",
    "naver",
];
const SOCIAL_NETWORKS: [&str; 14] = [
    "facebook.com",
    "instagram.com",
    "twitter.com",
    "x.com",
    "t.co",
    "linkedin.com",
    "lnkd.in",
    "pinterest.com",
    "reddit.com",
    "tiktok.com",
    "youtube.com",
    "youtu.be",
    "threads.net",
    "snapchat.com",
];
const WEBMAIL: [&str; 6] = [
    "mail.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "mail.yahoo.com",
    "mail.proton.me",
    "webmail.gmx.net",
];

fn medium_is(utm: &Utm, names: &[&str]) -> bool {
    utm.medium
        .as_deref()
        .is_some_and(|m| names.iter().any(|n| m.eq_ignore_ascii_case(n)))
}

fn medium_is_paid(utm: &Utm) -> bool {
    utm.medium.as_deref().is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.starts_with("paid")
            || ["cpc", "ppc", "display", "cpm", "cpv", "banner"].contains(&m.as_str())
    })
}

fn host_in(host: &str, list: &[&str]) -> bool {
    reference::host::candidates(host).any(|candidate| list.contains(&candidate))
}

fn is_search_engine(host: &str) -> bool {
    // `google.de`, `www.google.co.uk` (→ `google.co.uk`), `search.yahoo.com`, `search.brave.com`.
    host == "search.brave.com" || host.split('.').any(|label| SEARCH_ENGINES.contains(&label))
}

/// Classifies a touchpoint.
pub fn classify(input: &ChannelInput<'_>) -> Channel {
    let utm = input.utm;
    let external = input.referrer_host.filter(|_| !input.referrer_is_internal);
    if input.has_ad_click_id || medium_is_paid(utm) {
        return Channel::Paid;
    }
    if input.partner_link || medium_is(utm, &["affiliate", "referral", "partner"]) {
        return Channel::Referral;
    }
    if medium_is(utm, &["email", "e-mail", "newsletter"])
        || external.is_some_and(|h| host_in(h, &WEBMAIL))
    {
        return Channel::Email;
    }
    if external.is_some_and(is_search_engine) {
        return Channel::OrganicSearch;
    }
    if medium_is(utm, &["social", "social-network", "sm"])
        || external.is_some_and(|h| host_in(h, &SOCIAL_NETWORKS))
    {
        return Channel::Social;
    }
    if external.is_some() || utm.source.is_some() {
        return Channel::Referral;
    }
    if input.has_url || input.referrer_host.is_some() {
        return Channel::Direct;
    }
    Channel::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utm(source: Option<&str>, medium: Option<&str>) -> Utm {
        Utm {
            source: source.map(Into::into),
            medium: medium.map(Into::into),
            ..Utm::default()
        }
    }

    #[test]
    fn each_rule_with_a_worked_example() {
        let none = Utm::default();
        let base = ChannelInput {
            has_url: true,
            referrer_host: None,
            referrer_is_internal: false,
            utm: &none,
            has_ad_click_id: false,
            partner_link: false,
        };
        let cpc = utm(Some("google"), Some("CPC"));
        let paid_social = utm(Some("meta"), Some("paid_social"));
        let affiliate = utm(Some("trailtalk"), Some("affiliate"));
        let email = utm(Some("newsletter-0426"), Some("email"));
        let social = utm(Some("insta"), Some("social"));
        let source_only = utm(Some("podcast"), None);
        let cases: Vec<(&str, ChannelInput<'_>, Channel)> = vec![
            (
                "gclid on the landing URL",
                ChannelInput {
                    has_ad_click_id: true,
                    referrer_host: Some("google.com"),
                    ..base
                },
                Channel::Paid,
            ),
            (
                "utm_medium=CPC",
                ChannelInput { utm: &cpc, ..base },
                Channel::Paid,
            ),
            (
                "utm_medium=paid_social",
                ChannelInput {
                    utm: &paid_social,
                    ..base
                },
                Channel::Paid,
            ),
            (
                "partner link beats a search referrer",
                ChannelInput {
                    partner_link: true,
                    referrer_host: Some("google.com"),
                    ..base
                },
                Channel::Referral,
            ),
            (
                "utm_medium=affiliate",
                ChannelInput {
                    utm: &affiliate,
                    ..base
                },
                Channel::Referral,
            ),
            (
                "utm_medium=email",
                ChannelInput {
                    utm: &email,
                    ..base
                },
                Channel::Email,
            ),
            (
                "webmail referrer",
                ChannelInput {
                    referrer_host: Some("mail.google.com"),
                    ..base
                },
                Channel::Email,
            ),
            (
                "google.de referrer",
                ChannelInput {
                    referrer_host: Some("google.de"),
                    ..base
                },
                Channel::OrganicSearch,
            ),
            (
                "google.co.uk referrer",
                ChannelInput {
                    referrer_host: Some("google.co.uk"),
                    ..base
                },
                Channel::OrganicSearch,
            ),
            (
                "duckduckgo referrer",
                ChannelInput {
                    referrer_host: Some("duckduckgo.com"),
                    ..base
                },
                Channel::OrganicSearch,
            ),
            (
                "m.facebook.com referrer",
                ChannelInput {
                    referrer_host: Some("m.facebook.com"),
                    ..base
                },
                Channel::Social,
            ),
            (
                "t.co referrer",
                ChannelInput {
                    referrer_host: Some("t.co"),
                    ..base
                },
                Channel::Social,
            ),
            (
                "utm_medium=social",
                ChannelInput {
                    utm: &social,
                    ..base
                },
                Channel::Social,
            ),
            (
                "a blog referrer",
                ChannelInput {
                    referrer_host: Some("outdoor-blog.example"),
                    ..base
                },
                Channel::Referral,
            ),
            (
                "utm_source alone",
                ChannelInput {
                    utm: &source_only,
                    ..base
                },
                Channel::Referral,
            ),
            ("no referrer", base, Channel::Direct),
            (
                "the program's own site",
                ChannelInput {
                    referrer_host: Some("shop.example.com"),
                    referrer_is_internal: true,
                    ..base
                },
                Channel::Direct,
            ),
            (
                "server-side event",
                ChannelInput {
                    has_url: false,
                    ..base
                },
                Channel::Unknown,
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(classify(&input), expected, "{name}");
        }
    }

    #[test]
    fn a_host_merely_containing_a_network_name_is_not_that_network() {
        assert!(!host_in("notfacebook.com", &SOCIAL_NETWORKS));
        assert!(host_in("de.linkedin.com", &SOCIAL_NETWORKS));
    }
}
