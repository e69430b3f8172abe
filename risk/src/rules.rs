//! The risk rules: each looks at the facts of one scored action and, when its signal fires,
//! gives a reason code with the measured value and the threshold it crossed. Pure.
//!
//! | code | fires when | parameters (defaults) |
//! |---|---|---|
//! | `click_to_conversion_too_fast` | the credited partner's last click/lead came less than the minimum before the conversion | `min_click_to_conversion_seconds` (10) |
//! | `click_flooding` | the partner's clicks per scored action exceed the other partners' by the ratio, once it has the minimum clicks | `click_flood_ratio` (3), `click_flood_min_clicks` (50) |
//! | `shared_fingerprint` | the conversion's device/IP fingerprint converted for more distinct customers than the maximum in the window | `fingerprint_customers_max` (3) |
//! | `self_referral` | the attributor excluded the partner's claim as a self-referral, or the conversion comes from a device seen on one of the partner's self-referrals | — |
//! | `code_leakage` | a code-only action arrived from a coupon-site referrer, or the partner's code-only actions exceed its link actions by the ratio, once it has the minimum | `code_leakage_ratio` (3), `code_leakage_min_actions` (10); coupon sites: service config |
//! | `bot_traffic` | the conversion's user agent names a bot/automation tool, or its IP is in a data-centre network | service config |
//! | `velocity_spike` | the partner's actions that day exceed its own daily mean over the baseline days by the ratio, once at the minimum | `velocity_spike_ratio` (5), `velocity_baseline_days` (14), `velocity_min_actions` (20) |

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use rust_decimal::Decimal;
use schemas::risk::RiskReason;

/// Reason codes, as published in `schemas::reference::RISK_REASON_CODES`.
pub mod code {
    /// Click-to-conversion too fast.
    pub const TOO_FAST: &str = "click_to_conversion_too_fast";
    /// Click flooding.
    pub const CLICK_FLOODING: &str = "click_flooding";
    /// One device/IP converting for many customers.
    pub const SHARED_FINGERPRINT: &str = "shared_fingerprint";
    /// Self-referral.
    pub const SELF_REFERRAL: &str = "self_referral";
    /// Code leakage.
    pub const CODE_LEAKAGE: &str = "code_leakage";
    /// Bot or data-centre traffic.
    pub const BOT_TRAFFIC: &str = "bot_traffic";
    /// Conversion velocity spike.
    pub const VELOCITY_SPIKE: &str = "velocity_spike";
}

/// A program's rule parameters: the defaults, overridden by its policy's `thresholds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Seconds.
    pub min_click_to_conversion_seconds: Decimal,
    /// Multiple of the other partners' clicks per action.
    pub click_flood_ratio: Decimal,
    /// Partner clicks in the window before click flooding is judged.
    pub click_flood_min_clicks: Decimal,
    /// Distinct customers per fingerprint allowed in the window.
    pub fingerprint_customers_max: Decimal,
    /// Code-only actions per link action.
    pub code_leakage_ratio: Decimal,
    /// Code-only actions in the window before the ratio is judged.
    pub code_leakage_min_actions: Decimal,
    /// Multiple of the partner's own daily mean.
    pub velocity_spike_ratio: Decimal,
    /// Days of the baseline before the action's day.
    pub velocity_baseline_days: Decimal,
    /// Actions in a day before a spike is judged.
    pub velocity_min_actions: Decimal,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_click_to_conversion_seconds: Decimal::from(10),
            click_flood_ratio: Decimal::from(3),
            click_flood_min_clicks: Decimal::from(50),
            fingerprint_customers_max: Decimal::from(3),
            code_leakage_ratio: Decimal::from(3),
            code_leakage_min_actions: Decimal::from(10),
            velocity_spike_ratio: Decimal::from(5),
            velocity_baseline_days: Decimal::from(14),
            velocity_min_actions: Decimal::from(20),
        }
    }
}

impl Thresholds {
    /// The defaults with `overrides` (names as in `RISK_THRESHOLD_NAMES`; the reference loader
    /// has already refused unknown names).
    pub fn with_overrides(overrides: &BTreeMap<String, Decimal>) -> Thresholds {
        let mut t = Thresholds::default();
        for (name, value) in overrides {
            let slot = match name.as_str() {
                "min_click_to_conversion_seconds" => &mut t.min_click_to_conversion_seconds,
                "click_flood_ratio" => &mut t.click_flood_ratio,
                "click_flood_min_clicks" => &mut t.click_flood_min_clicks,
                "fingerprint_customers_max" => &mut t.fingerprint_customers_max,
                "code_leakage_ratio" => &mut t.code_leakage_ratio,
                "code_leakage_min_actions" => &mut t.code_leakage_min_actions,
                "velocity_spike_ratio" => &mut t.velocity_spike_ratio,
                "velocity_baseline_days" => &mut t.velocity_baseline_days,
                "velocity_min_actions" => &mut t.velocity_min_actions,
                _ => continue,
            };
            *slot = *value;
        }
        t
    }

    /// Baseline days as a count (at least 1).
    pub fn baseline_days(&self) -> i32 {
        i32::try_from(self.velocity_baseline_days.trunc().mantissa())
            .unwrap_or(14)
            .max(1)
    }
}

/// Lists the service is configured with (not per program): they are operational knowledge
/// that changes with the traffic landscape, not with a brand's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    /// Lower-case substrings of user agents of bots and automation tools.
    pub bot_user_agents: Vec<String>,
    /// Coupon and deal sites (a referrer on the domain or a subdomain matches).
    pub coupon_domains: Vec<String>,
    /// Data-centre IPv4 networks.
    pub datacentre_networks: Vec<Network>,
}

/// An IPv4 network, e.g. `198.51.100.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: u32,
    bits: u8,
}

impl Network {
    /// Parses `a.b.c.d/n`.
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, bits) = text.split_once('/').unwrap_or((text, "32"));
        let addr: Ipv4Addr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 network like 198.51.100.0/24"))?;
        let bits: u8 = bits
            .trim()
            .parse()
            .ok()
            .filter(|b| *b <= 32)
            .ok_or_else(|| format!("{text:?}: the prefix length must be 0..=32"))?;
        Ok(Network {
            base: u32::from(addr) & mask(bits),
            bits,
        })
    }

    /// Whether `addr` lies in this network.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.bits) == self.base
    }
}

fn mask(bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(bits))
    }
}

/// Counts over the rolling window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Partner clicks.
    pub clicks: i64,
    /// Scored actions.
    pub actions: i64,
    /// Actions credited by a code alone.
    pub code_only: i64,
    /// Actions credited through a link.
    pub link: i64,
}

/// How the action relates to the partner's self-referrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfReferral {
    /// Nothing known.
    No,
    /// The attributor excluded this claim: the customer is one of the partner's own ids.
    Claim,
    /// The conversion's fingerprint was seen on one of the partner's self-referral claims.
    SameDevice,
}

/// Everything the rules look at for one action. Counts include the action itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFacts<'a> {
    /// From the partner's last click or lead to the conversion.
    pub click_to_conversion_seconds: Option<i64>,
    /// Credited by a code and no link touchpoint of the partner.
    pub code_only: bool,
    /// The conversion's referrer URL.
    pub referrer: Option<&'a str>,
    /// The conversion's user agent.
    pub user_agent: Option<&'a str>,
    /// The conversion's IP network prefix.
    pub ip_prefix: Option<&'a str>,
    /// Distinct customers of the conversion's fingerprint in the window (0: no fingerprint).
    pub fingerprint_customers: i64,
    /// Self-referral evidence.
    pub self_referral: SelfReferral,
    /// The partner's window counts.
    pub partner: WindowCounts,
    /// The other partners' window counts in the program.
    pub others: WindowCounts,
    /// The partner's actions on the action's day.
    pub day_actions: i64,
    /// The partner's actions over the baseline days before it.
    pub baseline_actions: i64,
}

/// Runs every rule; the reasons come in the order of the table above.
pub fn evaluate(facts: &ActionFacts<'_>, t: &Thresholds, lists: &Lists) -> Vec<RiskReason> {
    let mut reasons = Vec::new();
    if facts.self_referral == SelfReferral::Claim {
        // An excluded claim earns nothing whatever else is true of it; only this counts.
        reasons.push(reason(
            code::SELF_REFERRAL,
            "customer is the partner's own".into(),
            "no own customers".into(),
            "the attributor excluded the partner's claim: the customer is one of its own ids"
                .into(),
        ));
        return reasons;
    }
    if let Some(seconds) = facts.click_to_conversion_seconds {
        let measured = Decimal::from(seconds);
        if measured < t.min_click_to_conversion_seconds {
            reasons.push(reason(
                code::TOO_FAST,
                measured.to_string(),
                show(t.min_click_to_conversion_seconds),
                format!("{seconds} s from the partner's last click to the conversion"),
            ));
        }
    }
    if let Some(r) = click_flooding(facts, t) {
        reasons.push(r);
    }
    let customers = Decimal::from(facts.fingerprint_customers);
    if facts.fingerprint_customers > 0 && customers > t.fingerprint_customers_max {
        reasons.push(reason(
            code::SHARED_FINGERPRINT,
            customers.to_string(),
            show(t.fingerprint_customers_max),
            format!(
                "the conversion's device/IP converted for {customers} distinct customers in the window"
            ),
        ));
    }
    if facts.self_referral == SelfReferral::SameDevice {
        reasons.push(reason(
            code::SELF_REFERRAL,
            "device of a self-referral".into(),
            "no shared device".into(),
            "the conversion comes from a device seen on the partner's own purchases".into(),
        ));
    }
    if let Some(r) = code_leakage(facts, t, lists) {
        reasons.push(r);
    }
    if let Some(r) = bot_traffic(facts, lists) {
        reasons.push(r);
    }
    if let Some(r) = velocity_spike(facts, t) {
        reasons.push(r);
    }
    reasons
}

fn click_flooding(facts: &ActionFacts<'_>, t: &Thresholds) -> Option<RiskReason> {
    let p = facts.partner;
    let o = facts.others;
    if Decimal::from(p.clicks) < t.click_flood_min_clicks || o.actions == 0 || o.clicks == 0 {
        return None;
    }
    let partner_rate = Decimal::from(p.clicks) / Decimal::from(p.actions.max(1));
    let others_rate = Decimal::from(o.clicks) / Decimal::from(o.actions);
    let multiple = partner_rate / others_rate;
    (multiple > t.click_flood_ratio).then(|| {
        reason(
            code::CLICK_FLOODING,
            show(multiple),
            show(t.click_flood_ratio),
            format!(
                "{} clicks per scored action against {} for the program's other partners",
                show(partner_rate),
                show(others_rate)
            ),
        )
    })
}

fn code_leakage(facts: &ActionFacts<'_>, t: &Thresholds, lists: &Lists) -> Option<RiskReason> {
    if !facts.code_only {
        return None;
    }
    if let Some(site) = facts
        .referrer
        .and_then(host_of)
        .and_then(|host| matching_domain(&host, &lists.coupon_domains))
    {
        return Some(reason(
            code::CODE_LEAKAGE,
            site.clone(),
            "coupon-site referrer".into(),
            format!("a code-only conversion arriving from the coupon site {site}"),
        ));
    }
    let p = facts.partner;
    if Decimal::from(p.code_only) < t.code_leakage_min_actions {
        return None;
    }
    let multiple = Decimal::from(p.code_only) / Decimal::from(p.link.max(1));
    (multiple > t.code_leakage_ratio).then(|| {
        reason(
            code::CODE_LEAKAGE,
            show(multiple),
            show(t.code_leakage_ratio),
            format!(
                "{} code-only actions against {} through links in the window",
                p.code_only, p.link
            ),
        )
    })
}

fn bot_traffic(facts: &ActionFacts<'_>, lists: &Lists) -> Option<RiskReason> {
    if let Some(ua) = facts.user_agent {
        let lower = ua.to_ascii_lowercase();
        if let Some(pattern) = lists
            .bot_user_agents
            .iter()
            .find(|p| lower.contains(p.as_str()))
        {
            return Some(reason(
                code::BOT_TRAFFIC,
                pattern.clone(),
                "bot user-agent list".into(),
                format!("the conversion's user agent contains {pattern:?}"),
            ));
        }
    }
    let prefix = facts.ip_prefix?;
    let addr: Ipv4Addr = prefix.split('/').next()?.parse().ok()?;
    lists
        .datacentre_networks
        .iter()
        .any(|n| n.contains(addr))
        .then(|| {
            reason(
                code::BOT_TRAFFIC,
                prefix.to_string(),
                "data-centre networks".into(),
                format!("the conversion came from the data-centre network {prefix}"),
            )
        })
}

fn velocity_spike(facts: &ActionFacts<'_>, t: &Thresholds) -> Option<RiskReason> {
    let today = Decimal::from(facts.day_actions);
    if today < t.velocity_min_actions {
        return None;
    }
    let mean = Decimal::from(facts.baseline_actions) / Decimal::from(t.baseline_days());
    // A partner with no history is measured against one action a day, not against zero.
    let multiple = today / mean.max(Decimal::ONE);
    (multiple > t.velocity_spike_ratio).then(|| {
        reason(
            code::VELOCITY_SPIKE,
            show(multiple),
            show(t.velocity_spike_ratio),
            format!(
                "{today} actions in a day against a mean of {} over the previous {} days",
                show(mean),
                t.baseline_days()
            ),
        )
    })
}

fn reason(code: &str, measured: String, threshold: String, detail: String) -> RiskReason {
    RiskReason {
        code: code.into(),
        measured,
        threshold,
        detail,
    }
}

/// A decimal for people: at most four decimals (so a value just above a threshold shows as
/// above it), no trailing zeros.
fn show(value: Decimal) -> String {
    value.round_dp(4).normalize().to_string()
}

/// The lower-case host of a URL (or of a bare host name).
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn matching_domain(host: &str, domains: &[String]) -> Option<String> {
    domains
        .iter()
        .find(|d| host == d.as_str() || host.ends_with(&format!(".{d}")))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> Lists {
        Lists {
            bot_user_agents: vec!["headlesschrome".into(), "python-requests".into()],
            coupon_domains: vec!["retailmenot.com".into()],
            datacentre_networks: vec![
                Network::parse("198.51.100.0/24").expect("test data is valid")
            ],
        }
    }

    fn honest() -> ActionFacts<'static> {
        ActionFacts {
            click_to_conversion_seconds: Some(600),
            code_only: false,
            referrer: Some("https://news.example/article"),
            user_agent: Some("Mozilla/5.0 (Windows NT 10.0) Firefox/120.0"),
            ip_prefix: Some("203.0.113.0/24"),
            fingerprint_customers: 1,
            self_referral: SelfReferral::No,
            partner: WindowCounts {
                clicks: 200,
                actions: 20,
                code_only: 2,
                link: 18,
            },
            others: WindowCounts {
                clicks: 1_000,
                actions: 100,
                code_only: 10,
                link: 90,
            },
            day_actions: 3,
            baseline_actions: 28,
        }
    }

    fn codes(facts: &ActionFacts<'_>) -> Vec<String> {
        evaluate(facts, &Thresholds::default(), &lists())
            .into_iter()
            .map(|r| r.code)
            .collect()
    }

    #[test]
    fn an_honest_action_fires_nothing() {
        assert!(codes(&honest()).is_empty());
    }

    #[test]
    fn too_fast_fires_below_the_minimum_only() {
        let mut f = honest();
        f.click_to_conversion_seconds = Some(10);
        assert!(codes(&f).is_empty(), "10 s is not below 10 s");
        f.click_to_conversion_seconds = Some(9);
        let reasons = evaluate(&f, &Thresholds::default(), &lists());
        assert_eq!(reasons[0].code, code::TOO_FAST);
        assert_eq!(
            (reasons[0].measured.as_str(), reasons[0].threshold.as_str()),
            ("9", "10")
        );
        f.click_to_conversion_seconds = None;
        assert!(
            codes(&f).is_empty(),
            "a code-only action has no click to time"
        );
    }

    #[test]
    fn click_flooding_compares_clicks_per_action_with_the_other_partners() {
        // Others: 10 clicks per action. Partner: 600 / 20 = 30, exactly 3x: not above.
        let mut f = honest();
        f.partner.clicks = 600;
        assert!(codes(&f).is_empty());
        f.partner.clicks = 601;
        let r = evaluate(&f, &Thresholds::default(), &lists());
        assert_eq!(r[0].code, code::CLICK_FLOODING);
        assert_eq!(r[0].measured, "3.005");
        // Below the minimum clicks nothing is judged, whatever the ratio.
        f.partner = WindowCounts {
            clicks: 49,
            actions: 1,
            ..f.partner
        };
        assert!(codes(&f).is_empty());
        f.partner.clicks = 50;
        assert_eq!(codes(&f), [code::CLICK_FLOODING]);
        // Nothing to compare with: no other partner has actions.
        f.others = WindowCounts::default();
        assert!(codes(&f).is_empty());
    }

    #[test]
    fn shared_fingerprint_fires_above_the_maximum_customers() {
        let mut f = honest();
        f.fingerprint_customers = 3;
        assert!(codes(&f).is_empty());
        f.fingerprint_customers = 4;
        let r = evaluate(&f, &Thresholds::default(), &lists());
        assert_eq!(
            (r[0].code.as_str(), r[0].measured.as_str()),
            (code::SHARED_FINGERPRINT, "4")
        );
    }

    #[test]
    fn a_self_referral_claim_is_flagged_alone_and_a_self_device_alongside_others() {
        let mut f = honest();
        f.self_referral = SelfReferral::Claim;
        f.click_to_conversion_seconds = Some(1);
        assert_eq!(codes(&f), [code::SELF_REFERRAL]);
        f.self_referral = SelfReferral::SameDevice;
        assert_eq!(codes(&f), [code::TOO_FAST, code::SELF_REFERRAL]);
    }

    #[test]
    fn code_leakage_by_coupon_referrer_or_by_ratio_for_code_only_actions() {
        let mut f = honest();
        f.referrer = Some("https://www.retailmenot.com/view/shop");
        assert!(codes(&f).is_empty(), "a link action is not leakage");
        f.code_only = true;
        assert_eq!(codes(&f), [code::CODE_LEAKAGE]);
        f.referrer = Some("https://notretailmenot.com/");
        assert!(
            codes(&f).is_empty(),
            "only the domain or its subdomains match"
        );
        // Ratio: 30 code-only per 10 link actions is exactly 3: not above.
        f.partner.code_only = 30;
        f.partner.link = 10;
        assert!(codes(&f).is_empty());
        f.partner.code_only = 31;
        let r = evaluate(&f, &Thresholds::default(), &lists());
        assert_eq!(
            (r[0].code.as_str(), r[0].measured.as_str()),
            (code::CODE_LEAKAGE, "3.1")
        );
        // Below the minimum sample the ratio is not judged.
        f.partner.code_only = 9;
        f.partner.link = 0;
        assert!(codes(&f).is_empty());
        f.partner.code_only = 10;
        assert_eq!(codes(&f), [code::CODE_LEAKAGE]);
    }

    #[test]
    fn bot_traffic_by_user_agent_or_data_centre_network() {
        let mut f = honest();
        f.user_agent = Some("Mozilla/5.0 HeadlessChrome/119.0");
        assert_eq!(codes(&f), [code::BOT_TRAFFIC]);
        f.user_agent = None;
        f.ip_prefix = Some("198.51.100.0/24");
        assert_eq!(codes(&f), [code::BOT_TRAFFIC]);
        f.ip_prefix = Some("198.51.101.0/24");
        assert!(codes(&f).is_empty());
    }

    #[test]
    fn velocity_spike_against_the_partners_own_daily_mean() {
        // Baseline 28 over 14 days = 2 a day; 20 is 10x.
        let mut f = honest();
        f.day_actions = 10;
        assert!(codes(&f).is_empty(), "below the minimum actions");
        f.day_actions = 20;
        let r = evaluate(&f, &Thresholds::default(), &lists());
        assert_eq!(
            (r[0].code.as_str(), r[0].measured.as_str()),
            (code::VELOCITY_SPIKE, "10")
        );
        // A mean of 4 a day: 20 is exactly 5x, not above.
        f.baseline_actions = 56;
        assert!(codes(&f).is_empty());
        f.day_actions = 21;
        assert_eq!(codes(&f), [code::VELOCITY_SPIKE]);
    }

    #[test]
    fn overrides_replace_defaults_by_name() {
        let t = Thresholds::with_overrides(
            &[(
                "min_click_to_conversion_seconds".to_string(),
                Decimal::from(30),
            )]
            .into_iter()
            .collect(),
        );
        assert_eq!(t.min_click_to_conversion_seconds, Decimal::from(30));
        assert_eq!(t.click_flood_ratio, Thresholds::default().click_flood_ratio);
        let mut f = honest();
        f.click_to_conversion_seconds = Some(29);
        assert_eq!(evaluate(&f, &t, &lists())[0].code, code::TOO_FAST);
    }

    #[test]
    fn networks_and_hosts_parse() {
        let n = Network::parse("10.0.0.0/8").expect("test data is valid");
        assert!(n.contains("10.200.1.1".parse().expect("test data is valid")));
        assert!(!n.contains("11.0.0.1".parse().expect("test data is valid")));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert_eq!(
            host_of("https://Www.Example.com:8080/x?y").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(host_of("example.com").as_deref(), Some("example.com"));
    }

    #[test]
    fn every_code_is_a_published_reason_code() {
        for c in [
            code::TOO_FAST,
            code::CLICK_FLOODING,
            code::SHARED_FINGERPRINT,
            code::SELF_REFERRAL,
            code::CODE_LEAKAGE,
            code::BOT_TRAFFIC,
            code::VELOCITY_SPIKE,
        ] {
            assert!(schemas::reference::RISK_REASON_CODES.contains(&c), "{c}");
        }
    }
}
