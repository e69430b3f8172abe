//! The risk service's configuration: the shared variables plus its own, all from the
//! environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

use crate::rules::{Lists, Network};
use crate::state::ScorerSettings;

/// Router consumer group.
pub const RISK_ROUTER_GROUP_ID: EnvVar = EnvVar {
    name: "RISK_ROUTER_GROUP_ID",
    default: Some("attrib-risk-router"),
    doc: "Consumer group of the router (enriched touchpoints and attributions in, signals keyed by program out).",
};
/// Scorer consumer group.
pub const RISK_GROUP_ID: EnvVar = EnvVar {
    name: "RISK_GROUP_ID",
    default: Some("attrib-risk"),
    doc: "Consumer group of the scorer (signals in; scores, levels and commission decisions out).",
};
/// Join wait.
pub const RISK_JOIN_WAIT_DAYS: EnvVar = EnvVar {
    name: "RISK_JOIN_WAIT_DAYS",
    default: Some("7"),
    doc: "Event-time days an attribution waits for its conversion's context (device, IP, referrer) before it is scored without; a context waits as long for its attribution.",
};
/// Bot user agents.
pub const RISK_BOT_USER_AGENTS: EnvVar = EnvVar {
    name: "RISK_BOT_USER_AGENTS",
    default: Some("bot,crawler,spider,headlesschrome,phantomjs,python-requests,curl/,wget/,scrapy,selenium,puppeteer,playwright"),
    doc: "Comma-separated, case-insensitive substrings of user agents that `bot_traffic` flags.",
};
/// Coupon sites.
pub const RISK_COUPON_DOMAINS: EnvVar = EnvVar {
    name: "RISK_COUPON_DOMAINS",
    default: Some("retailmenot.com,couponfollow.com,joinhoney.com,vouchercodes.co.uk,wethrift.com,dealspotr.com,knoji.com,coupons.com,couponcabin.com,slickdeals.net"),
    doc: "Comma-separated coupon and deal sites (the domain and its subdomains); a code-only conversion referred by one is `code_leakage`.",
};
/// Data-centre networks.
pub const RISK_DATACENTRE_NETWORKS: EnvVar = EnvVar {
    name: "RISK_DATACENTRE_NETWORKS",
    default: Some(""),
    doc: "Comma-separated IPv4 networks (e.g. `198.51.100.0/24`) of hosting providers; a conversion from one is `bot_traffic`. Load your provider's published ranges.",
};
/// Restore stall timeout.
pub const RISK_RESTORE_TIMEOUT_SECONDS: EnvVar = EnvVar {
    name: "RISK_RESTORE_TIMEOUT_SECONDS",
    default: Some("60"),
    doc: "Reading a state changelog partition (or the reference topic) may go this long without progress before the service gives up and exits.",
};

/// The risk service's own variables.
pub const RISK_VARS: [EnvVar; 8] = [
    RISK_ROUTER_GROUP_ID,
    RISK_GROUP_ID,
    RISK_JOIN_WAIT_DAYS,
    RISK_BOT_USER_AGENTS,
    RISK_COUPON_DOMAINS,
    RISK_DATACENTRE_NETWORKS,
    RISK_SUBJECTS_PER_PARTITION_MAX,
    RISK_RESTORE_TIMEOUT_SECONDS,
];

/// Subject cap.
pub const RISK_SUBJECTS_PER_PARTITION_MAX: EnvVar = EnvVar {
    name: "RISK_SUBJECTS_PER_PARTITION_MAX",
    default: Some("500000"),
    doc: "Most (partner) and (partner, SharedId) subjects one signals partition keeps. A click's SharedId is the event's claim, so forged clicks can make subjects without end; beyond the cap, SharedId subjects with clicks only (no scored action, no published level) are evicted, last seen longest ago first, down to 90 %. `risk_evicted_subjects_total` counts them.",
};

/// Default admin address of the risk service.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9104";

/// Every variable the risk service reads, for `risk env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &RISK_VARS)
}

/// The risk service's configuration.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Router consumer group.
    pub router_group_id: String,
    /// Scorer consumer group.
    pub group_id: String,
    /// Scorer settings.
    pub scorer: ScorerSettings,
    /// Restore stall timeout.
    pub restore_timeout: Duration,
    /// Subject cap per partition.
    pub subjects_max: usize,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl RiskConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<RiskConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "risk", ADMIN_DEFAULT);
        let join_wait: i32 = env.parse(&RISK_JOIN_WAIT_DAYS);
        env.check(
            (1..=365).contains(&join_wait),
            "RISK_JOIN_WAIT_DAYS must be between 1 and 365",
        );
        let mut networks = Vec::new();
        for text in list(&env.string(&RISK_DATACENTRE_NETWORKS)) {
            match Network::parse(&text) {
                Ok(n) => networks.push(n),
                Err(e) => env.check(false, format!("RISK_DATACENTRE_NETWORKS: {e}")),
            }
        }
        let subjects_max: usize = env.parse(&RISK_SUBJECTS_PER_PARTITION_MAX);
        env.check(
            subjects_max >= 100,
            "RISK_SUBJECTS_PER_PARTITION_MAX must be at least 100",
        );
        let restore_seconds: u64 = env.parse(&RISK_RESTORE_TIMEOUT_SECONDS);
        env.check(
            restore_seconds >= 1,
            "RISK_RESTORE_TIMEOUT_SECONDS must be at least 1",
        );
        Ok(RiskConfig {
            common,
            router_group_id: env.string(&RISK_ROUTER_GROUP_ID),
            group_id: env.string(&RISK_GROUP_ID),
            scorer: ScorerSettings {
                lists: Lists {
                    bot_user_agents: list(&env.string(&RISK_BOT_USER_AGENTS)),
                    coupon_domains: list(&env.string(&RISK_COUPON_DOMAINS)),
                    datacentre_networks: networks,
                },
                join_wait_days: join_wait.clamp(1, 365),
            },
            restore_timeout: Duration::from_secs(restore_seconds),
            subjects_max: subjects_max.max(100),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<RiskConfig, String> {
        runtime::config::read_pairs(pairs, RiskConfig::from_env)
    }

    #[test]
    fn defaults_work_and_lists_are_parsed() {
        let c =
            read(&[("RISK_DATACENTRE_NETWORKS", "198.51.100.0/24, 10.0.0.0/8")]).expect("valid");
        assert_eq!(c.scorer.lists.datacentre_networks.len(), 2);
        assert!(c
            .scorer
            .lists
            .bot_user_agents
            .contains(&"headlesschrome".into()));
        assert!(c
            .scorer
            .lists
            .coupon_domains
            .contains(&"retailmenot.com".into()));
        assert_eq!(c.scorer.join_wait_days, 7);
        assert_eq!(c.common.topics.risk_signals, "attrib.risk.signals.v1");
    }

    #[test]
    fn every_problem_is_reported() {
        let err = read(&[
            ("RISK_DATACENTRE_NETWORKS", "not-a-network"),
            ("RISK_JOIN_WAIT_DAYS", "0"),
        ])
        .expect_err("invalid");
        assert!(err.contains("RISK_DATACENTRE_NETWORKS"), "{err}");
        assert!(err.contains("RISK_JOIN_WAIT_DAYS"), "{err}");
    }

    #[test]
    fn the_readme_table_is_generated_from_these_declarations() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "risk/README.md's table is stale; replace it with `risk env`:\n{table}"
        );
    }
}
