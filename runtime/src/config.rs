//! Configuration from environment variables.
//!
//! Invariant: every variable a service reads is declared once as an [`EnvVar`] (name, default,
//! unit in the name, one-line doc), so the documentation table is generated from the same
//! declarations the code reads, and a service with any invalid variable refuses to start with
//! one message listing every problem, before it opens a connection.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

/// A documented environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// Variable name; units go last (`_ms`, `_seconds`, `_bytes`).
    pub name: &'static str,
    /// Default when unset; `None` means required.
    pub default: Option<&'static str>,
    /// One-line description.
    pub doc: &'static str,
}

/// Every configuration problem found, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// Reads [`EnvVar`]s, collecting errors instead of stopping at the first.
pub struct Env {
    values: HashMap<String, String>,
    errors: Vec<String>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may hold secrets (e.g. INGEST_IP_HASH_KEY): never print them.
        f.debug_struct("Env").field("errors", &self.errors).finish()
    }
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        Env::from_map(std::env::vars().collect())
    }

    /// Reads the given map (tests, and `ingest import` overrides).
    pub fn from_map(values: HashMap<String, String>) -> Env {
        Env {
            values,
            errors: Vec::new(),
        }
    }

    /// The raw value, or the default; records an error and returns "" for a missing required one.
    pub fn string(&mut self, var: &EnvVar) -> String {
        match self.values.get(var.name).filter(|v| !v.trim().is_empty()) {
            Some(v) => v.trim().to_string(),
            None => match var.default {
                Some(d) => d.to_string(),
                None => {
                    self.errors
                        .push(format!("{} is required: {}", var.name, var.doc));
                    String::new()
                }
            },
        }
    }

    /// An optional value with no default: `None` when unset.
    pub fn optional(&mut self, var: &EnvVar) -> Option<String> {
        self.values
            .get(var.name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A parsed value; records an error (and returns `T::default()`) when it does not parse.
    pub fn parse<T>(&mut self, var: &EnvVar) -> T
    where
        T: FromStr + Default,
        T::Err: Display,
    {
        let raw = self.string(var);
        if raw.is_empty() && var.default.is_none() {
            return T::default();
        }
        raw.parse().unwrap_or_else(|e| {
            self.errors.push(format!(
                "{}={raw:?} is invalid: {e} ({})",
                var.name, var.doc
            ));
            T::default()
        })
    }

    /// Every variable whose name starts with `prefix`: (the rest of the name, the value exactly
    /// as given — not trimmed, commas and all), sorted by name.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = self
            .values
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
            .filter(|(rest, _)| !rest.is_empty())
            .collect();
        found.sort();
        found
    }

    /// Records an error unless `ok` (cross-field checks).
    pub fn check(&mut self, ok: bool, message: impl Into<String>) {
        if !ok {
            self.errors.push(message.into());
        }
    }

    /// Ends reading: `Err` listing every problem, if any.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.errors))
        }
    }
}

/// Renders variables as a Markdown table (the README's environment tables come from this).
pub fn markdown_table(vars: &[EnvVar]) -> String {
    let mut out = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
    for var in vars {
        let default = match var.default {
            Some("") => "(empty)".to_string(),
            Some(d) => format!("`{d}`"),
            None => "**required**".to_string(),
        };
        out.push_str(&format!("| `{}` | {} | {} |\n", var.name, default, var.doc));
    }
    out
}

/// A value that must be one of a fixed set of words.
#[macro_export]
macro_rules! config_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name { #[default] $($(#[$vmeta])* $variant),+ }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(format!("expected one of {:?}, got {other:?}", [$($word),+])),
                }
            }
        }
    };
}

/// Reads a configuration from `pairs` alone and checks nothing is left unread: every problem
/// in one message (the services' configuration tests).
pub fn read_pairs<C>(
    pairs: &[(&str, &str)],
    read: impl FnOnce(&mut Env) -> Result<C, ConfigError>,
) -> Result<C, String> {
    let mut env = Env::from_map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let config = read(&mut env).map_err(|e| e.to_string())?;
    env.finish().map_err(|e| e.to_string())?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: EnvVar = EnvVar {
        name: "TEST_PORT",
        default: Some("80"),
        doc: "a port",
    };
    const KEY: EnvVar = EnvVar {
        name: "TEST_KEY",
        default: None,
        doc: "a secret",
    };

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_apply_when_unset_or_blank() {
        let mut e = env(&[("TEST_PORT", "  ")]);
        assert_eq!(e.parse::<u16>(&PORT), 80);
        assert!(e.finish().is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut e = env(&[("TEST_PORT", "eighty")]);
        let _port: u16 = e.parse(&PORT);
        let _key = e.string(&KEY);
        e.check(false, "cross-field rule broken");
        let message = e.finish().expect_err("three problems").to_string();
        assert!(
            message.contains("TEST_PORT=\"eighty\" is invalid"),
            "{message}"
        );
        assert!(message.contains("TEST_KEY is required"), "{message}");
        assert!(message.contains("cross-field rule broken"), "{message}");
    }

    #[test]
    fn the_debug_form_never_shows_values() {
        let e = env(&[("TEST_KEY", "hunter2")]);
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    #[test]
    fn the_table_marks_required_variables() {
        let table = markdown_table(&[PORT, KEY]);
        assert!(table.contains("| `TEST_PORT` | `80` | a port |"));
        assert!(table.contains("| `TEST_KEY` | **required** | a secret |"));
    }
}
