//! How every binary that talks to ClickHouse reaches it — the ledger-writer, its command line,
//! the demo and the test tools read the same variables, so a setting that works for one works
//! for all: plain HTTP on the local stack, HTTPS with the system's or a given CA on a managed
//! service, a user and a password that never print.

use std::path::PathBuf;

use crate::config::{Env, EnvVar};
use crate::secret::Secret;

/// ClickHouse URL.
pub const CLICKHOUSE_URL: EnvVar = EnvVar {
    name: "CLICKHOUSE_URL",
    default: Some("http://127.0.0.1:18123"),
    doc: "ClickHouse HTTP(S) endpoint, e.g. `https://abc.eu-west-1.aws.clickhouse.cloud:8443`.",
};
/// ClickHouse database.
pub const CLICKHOUSE_DATABASE: EnvVar = EnvVar {
    name: "CLICKHOUSE_DATABASE",
    default: Some("attrib"),
    doc: "Database for every table; created and migrated on start.",
};
/// ClickHouse user.
pub const CLICKHOUSE_USER: EnvVar = EnvVar {
    name: "CLICKHOUSE_USER",
    default: Some("default"),
    doc: "ClickHouse user.",
};
/// ClickHouse password.
pub const CLICKHOUSE_PASSWORD: EnvVar = EnvVar {
    name: "CLICKHOUSE_PASSWORD",
    default: Some(""),
    doc: "ClickHouse password (never logged).",
};
/// CA bundle for `https://`.
pub const CLICKHOUSE_CA_FILE: EnvVar = EnvVar {
    name: "CLICKHOUSE_CA_FILE",
    default: Some(""),
    doc: "PEM file of CA certificates trusted for an `https://` CLICKHOUSE_URL, in addition to the system's (a private CA); empty: the system's only.",
};
/// Row validation.
pub const CLICKHOUSE_VALIDATION: EnvVar = EnvVar {
    name: "CLICKHOUSE_VALIDATION",
    default: Some("false"),
    doc: "`true` makes the client check rows against the table schema (ClickHouse 24+); must be `false` against 18.16.",
};

/// Every ClickHouse variable, in the order the docs list them.
pub const CLICKHOUSE_VARS: [EnvVar; 6] = [
    CLICKHOUSE_URL,
    CLICKHOUSE_DATABASE,
    CLICKHOUSE_USER,
    CLICKHOUSE_PASSWORD,
    CLICKHOUSE_CA_FILE,
    CLICKHOUSE_VALIDATION,
];

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    /// HTTP(S) URL.
    pub url: String,
    /// Database (created on start by the ledger-writer).
    pub database: String,
    /// User.
    pub user: String,
    /// Password (never printed).
    pub password: Secret,
    /// Extra trusted CA certificates (PEM) for HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Schema validation of inserted rows (needs ClickHouse ≥ 24; off for 18.16).
    pub validation: bool,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseSetupError {
    /// The CA file could not be read.
    #[error("CLICKHOUSE_CA_FILE {path}: {error}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The CA file is not PEM certificates, or TLS could not be set up.
    #[error("ClickHouse TLS set-up ({what}): {error}")]
    Tls {
        /// What was being done.
        what: String,
        /// The TLS library's reason.
        error: native_tls::Error,
    },
}

impl ClickHouseConfig {
    /// Reads the ClickHouse variables; problems are recorded in `env`.
    pub fn from_env(env: &mut Env) -> ClickHouseConfig {
        let url = env.string(&CLICKHOUSE_URL);
        env.check(
            url.starts_with("http://") || url.starts_with("https://"),
            format!("CLICKHOUSE_URL: {url:?} is not an http(s) URL"),
        );
        let database = env.string(&CLICKHOUSE_DATABASE);
        env.check(
            !database.is_empty()
                && database
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            format!("CLICKHOUSE_DATABASE: {database:?} must be letters, digits and '_'"),
        );
        let ca_file = Some(env.string(&CLICKHOUSE_CA_FILE))
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        if let Some(file) = &ca_file {
            env.check(
                file.is_file(),
                format!(
                    "CLICKHOUSE_CA_FILE: {} is not a readable file",
                    file.display()
                ),
            );
            env.check(
                url.starts_with("https://"),
                "CLICKHOUSE_CA_FILE is set but CLICKHOUSE_URL is not https://",
            );
        }
        ClickHouseConfig {
            url,
            database,
            user: env.string(&CLICKHOUSE_USER),
            password: Secret::new(env.string(&CLICKHOUSE_PASSWORD)),
            ca_file,
            validation: env.parse(&CLICKHOUSE_VALIDATION),
        }
    }

    /// The process environment's settings, for tools that have no other configuration.
    pub fn from_process() -> Result<ClickHouseConfig, crate::ConfigError> {
        let mut env = Env::from_process();
        let config = ClickHouseConfig::from_env(&mut env);
        env.finish().map(|()| config)
    }

    /// A client for the server, no database selected (migrations create it).
    pub fn server(&self) -> Result<clickhouse::Client, ClickHouseSetupError> {
        let tls = self.tls_connector()?;
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        // The TLS connector decides per URL: http:// stays plain, https:// is verified.
        http.enforce_http(false);
        let https = hyper_tls::HttpsConnector::from((http, tls.into()));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                // ClickHouse closes idle keep-alive connections after 3 s.
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build(https);
        Ok(clickhouse::Client::with_http_client(client)
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(self.password.expose())
            .with_validation(self.validation))
    }

    /// A client with the configured database selected.
    pub fn database(&self) -> Result<clickhouse::Client, ClickHouseSetupError> {
        Ok(self.server()?.with_database(&self.database))
    }

    fn tls_connector(&self) -> Result<native_tls::TlsConnector, ClickHouseSetupError> {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|error| ClickHouseSetupError::CaFile {
                path: path.clone(),
                error,
            })?;
            let certificates = native_tls::Certificate::stack_from_pem(&pem).map_err(|error| {
                ClickHouseSetupError::Tls {
                    what: format!("reading {}", path.display()),
                    error,
                }
            })?;
            if certificates.is_empty() {
                return Err(ClickHouseSetupError::CaFile {
                    path: path.clone(),
                    error: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "holds no PEM certificate",
                    ),
                });
            }
            for certificate in certificates {
                builder.add_root_certificate(certificate);
            }
        }
        builder.build().map_err(|error| ClickHouseSetupError::Tls {
            what: "building the connector".into(),
            error,
        })
    }
}

/// An error with every cause it carries: the client's own message for a failed TLS handshake
/// is only "client error (Connect)"; the reason (an unknown CA, a refused connection) is in
/// its sources.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A ClickHouse string literal: backslash and quote escaped. The server of the CI (18.16)
/// has no query parameters, so statements carry literals (mutations, `IN` lists).
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `(a, b, c)` of literals; never empty (an empty `IN ()` is a syntax error on 18.16).
pub fn list(values: &[String]) -> String {
    if values.is_empty() {
        return "('')".into();
    }
    let items: Vec<String> = values.iter().map(|v| literal(v)).collect();
    format!("({})", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn the_password_never_prints() {
        let mut e = env(&[
            ("CLICKHOUSE_URL", "https://ch.example:8443"),
            ("CLICKHOUSE_PASSWORD", "s3cret,with;punctuation"),
        ]);
        let config = ClickHouseConfig::from_env(&mut e);
        assert!(e.finish().is_ok());
        assert_eq!(config.password.expose(), "s3cret,with;punctuation");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn bad_settings_are_reported_together() {
        let mut e = env(&[
            ("CLICKHOUSE_URL", "ch.example:8443"),
            ("CLICKHOUSE_CA_FILE", "/nonexistent/ca.pem"),
        ]);
        let _config = ClickHouseConfig::from_env(&mut e);
        let problems = e.finish().expect_err("invalid").0;
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("not an http(s) URL"));
        assert!(problems[1].contains("not a readable file"));
        assert!(problems[2].contains("not https://"));
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("attrib-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("ca.pem");
        std::fs::write(&file, "not a certificate").expect("write");
        let config = ClickHouseConfig {
            url: "https://127.0.0.1:1".into(),
            database: "attrib".into(),
            user: "default".into(),
            password: Secret::default(),
            ca_file: Some(file.clone()),
            validation: false,
        };
        let error = config.server().map(|_| ()).expect_err("not PEM");
        assert!(
            error.to_string().contains(&file.display().to_string()),
            "{error}"
        );
        let _ignored = std::fs::remove_dir_all(dir);
    }
}
