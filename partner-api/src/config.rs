//! The partner API's configuration, all from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use runtime::clickhouse::ClickHouseConfig;
use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

/// Where the API listens.
pub const PARTNER_API_LISTEN_ADDR: EnvVar = EnvVar {
    name: "PARTNER_API_LISTEN_ADDR",
    default: Some("127.0.0.1:8480"),
    doc: "Address of the API and the portal (put TLS in front: a load balancer or ingress).",
};
/// Largest page.
pub const PARTNER_API_PAGE_MAX: EnvVar = EnvVar {
    name: "PARTNER_API_PAGE_MAX",
    default: Some("500"),
    doc: "Most items per page (`limit`); larger requests are answered with 400.",
};
/// Token cache lifetime.
pub const PARTNER_API_TOKEN_CACHE_SECONDS: EnvVar = EnvVar {
    name: "PARTNER_API_TOKEN_CACHE_SECONDS",
    default: Some("30"),
    doc: "How long a checked token is trusted before it is looked up again: a revoked token stops working within this long.",
};

/// Every variable the API reads, for `partner-api env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    let mut own = runtime::clickhouse::CLICKHOUSE_VARS.to_vec();
    own.extend([
        PARTNER_API_LISTEN_ADDR,
        PARTNER_API_PAGE_MAX,
        PARTNER_API_TOKEN_CACHE_SECONDS,
    ]);
    runtime::settings::service_vars("127.0.0.1:9488", &own)
}

/// The API's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Shared settings (admin address, logs).
    pub common: CommonConfig,
    /// ClickHouse (the API needs read access to the partner database only).
    pub clickhouse: ClickHouseConfig,
    /// API address.
    pub listen: SocketAddr,
    /// Largest page.
    pub page_max: u32,
    /// Token cache lifetime.
    pub token_cache: Duration,
}

impl ApiConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<ApiConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "partner-api", "127.0.0.1:9488");
        let clickhouse = ClickHouseConfig::from_env(env);
        let listen = env
            .parse::<runtime::settings::ListenAddr>(&PARTNER_API_LISTEN_ADDR)
            .0
            .unwrap_or_else(|| ([127, 0, 0, 1], 8480).into());
        let page_max: u32 = env.parse(&PARTNER_API_PAGE_MAX);
        env.check(
            (1..=10_000).contains(&page_max),
            "PARTNER_API_PAGE_MAX must be between 1 and 10000",
        );
        Ok(ApiConfig {
            common,
            clickhouse,
            listen,
            page_max,
            token_cache: Duration::from_secs(env.parse(&PARTNER_API_TOKEN_CACHE_SECONDS)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ApiConfig, String> {
        runtime::config::read_pairs(pairs, ApiConfig::from_env)
    }

    #[test]
    fn defaults_and_bad_values() {
        let config = read(&[]).expect("defaults");
        assert_eq!(config.listen.port(), 8480);
        assert_eq!(config.page_max, 500);
        let err = read(&[
            ("PARTNER_API_LISTEN_ADDR", "nowhere"),
            ("PARTNER_API_PAGE_MAX", "0"),
        ])
        .expect_err("bad");
        assert!(
            err.contains("PARTNER_API_LISTEN_ADDR") && err.contains("PARTNER_API_PAGE_MAX"),
            "{err}"
        );
    }

    #[test]
    fn the_readme_table_is_the_one_the_code_generates() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "partner-api/README.md is out of date: paste the output of `partner-api env` into it"
        );
    }
}
