//! Typed reads of one TOML table that collect every problem instead of stopping at the first,
//! so `reference check` can list all mistakes of a file in one go.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use toml::{Table, Value};

/// The fields of one table, with the problems found so far.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    table: &'a Table,
    used: Vec<&'static str>,
    /// Every key was read (free-form tables such as risk thresholds).
    used_all: bool,
    pub(crate) problems: Vec<String>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl<'a> Fields<'a> {
    pub(crate) fn new(table: &'a Table) -> Fields<'a> {
        Fields {
            table,
            used: Vec::new(),
            used_all: false,
            problems: Vec::new(),
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.table.get(key)
    }

    fn wrong(&mut self, key: &str, expected: &str, value: &Value) {
        self.problems.push(format!(
            "`{key}` must be {expected}, not {}",
            type_name(value)
        ));
    }

    /// A required non-empty string.
    pub(crate) fn string(&mut self, key: &'static str) -> String {
        match self.optional_string(key) {
            Some(s) => s,
            None => {
                if !self.table.contains_key(key) {
                    self.problems.push(format!("`{key}` is missing"));
                }
                String::new()
            }
        }
    }

    /// An optional string; empty counts as absent.
    pub(crate) fn optional_string(&mut self, key: &'static str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if s.trim().is_empty() => {
                self.problems.push(format!("`{key}` is empty"));
                None
            }
            Value::String(s) => Some(s.trim().to_string()),
            other => {
                self.wrong(key, "a string", other);
                None
            }
        }
    }

    /// A list of strings (absent: empty).
    pub(crate) fn strings(&mut self, key: &'static str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
                        other => self.problems.push(format!(
                            "`{key}[{i}]` must be a non-empty string, not {}",
                            type_name(other)
                        )),
                    }
                }
                out
            }
            Some(other) => {
                self.wrong(key, "an array of strings", other);
                Vec::new()
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub(crate) fn optional_int(&mut self, key: &'static str, min: i64, max: i64) -> Option<i64> {
        match self.get(key)? {
            Value::Integer(n) if (min..=max).contains(n) => Some(*n),
            Value::Integer(n) => {
                self.problems
                    .push(format!("`{key}` = {n} is outside {min}..={max}"));
                None
            }
            other => {
                self.wrong(key, "an integer", other);
                None
            }
        }
    }

    /// An integer with a default.
    pub(crate) fn int_or(&mut self, key: &'static str, default: i64, min: i64, max: i64) -> i64 {
        self.optional_int(key, min, max).unwrap_or(default)
    }

    /// A boolean with a default.
    pub(crate) fn bool_or(&mut self, key: &'static str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.wrong(key, "true or false", other);
                default
            }
        }
    }

    /// An optional exact decimal, written as a string (`"12.5"`) or an integer. Floats are
    /// refused: TOML floats are binary and would not round-trip money or rates exactly.
    pub(crate) fn optional_decimal(&mut self, key: &'static str) -> Option<Decimal> {
        match self.get(key)? {
            Value::String(s) => match schemas::money::parse_decimal(s.trim()) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.problems.push(format!("`{key}`: {e}"));
                    None
                }
            },
            Value::Integer(n) => Some(Decimal::from(*n)),
            Value::Float(f) => {
                self.problems.push(format!(
                    "`{key}` = {f} is a float; write exact decimals as strings, e.g. \"{f}\""
                ));
                None
            }
            other => {
                self.wrong(key, "a decimal string", other);
                None
            }
        }
    }

    /// An optional instant: a TOML offset date-time or an RFC 3339 string, with an offset.
    pub(crate) fn optional_instant(&mut self, key: &'static str) -> Option<DateTime<Utc>> {
        let text = match self.get(key)? {
            Value::Datetime(d) => d.to_string(),
            Value::String(s) => s.trim().to_string(),
            other => {
                self.wrong(key, "a date-time with an offset", other);
                return None;
            }
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.problems.push(format!(
                    "`{key}` = {text} is not an RFC 3339 date-time with an offset (e.g. 2026-01-01T00:00:00Z)"
                ));
                None
            }
        }
    }

    /// An optional sub-table, read by `read`; its problems are reported under `key.`.
    pub(crate) fn table<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&mut Fields<'a>) -> T,
    ) -> Option<T> {
        let value = self.get(key)?;
        let Value::Table(table) = value else {
            self.wrong(key, "a table", value);
            return None;
        };
        let mut inner = Fields::new(table);
        let out = read(&mut inner);
        for problem in inner.finish() {
            self.problems.push(format!("{key}.{problem}"));
        }
        Some(out)
    }

    /// The whole table as `name = decimal` pairs.
    pub(crate) fn decimal_map(&mut self) -> Vec<(String, Decimal)> {
        let keys: Vec<&'a String> = self.table.keys().collect();
        let mut out = Vec::new();
        for key in keys {
            let value = &self.table[key.as_str()];
            let parsed = match value {
                Value::String(s) => schemas::money::parse_decimal(s.trim()).ok(),
                Value::Integer(n) => Some(Decimal::from(*n)),
                _ => None,
            };
            match parsed {
                Some(d) => out.push((key.clone(), d)),
                None => self.problems.push(format!(
                    "`{key}` must be an exact decimal string or an integer"
                )),
            }
        }
        self.used_all = true;
        out
    }

    /// Problems, plus one per key that nothing read (a typo would otherwise be ignored).
    pub(crate) fn finish(mut self) -> Vec<String> {
        if !self.used_all {
            let unknown: Vec<String> = self
                .table
                .keys()
                .filter(|k| !self.used.contains(&k.as_str()))
                .map(|k| format!("`{k}` is not a known field"))
                .collect();
            self.problems.extend(unknown);
        }
        self.problems
    }
}
