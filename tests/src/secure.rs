//! The local stack's secure side (`deploy/local/stack.sh env-secure`): the secure broker (TLS
//! with the stack's own CA, SASL SCRAM) and ClickHouse over HTTPS with a user — reached with
//! exactly the variables a managed service needs (deploy/README.md).

use std::collections::HashMap;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The `export NAME=value` lines `stack.sh env-secure` prints, as a map (single quotes, which
/// protect the password's punctuation from the shell, removed).
pub fn secure_env() -> Result<HashMap<String, String>> {
    let script = repo_root().join("deploy/local/stack.sh");
    let output = Command::new(&script)
        .arg("env-secure")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} env-secure: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(parse_exports(&String::from_utf8_lossy(&output.stdout)))
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// `export NAME=value` lines to pairs.
pub fn parse_exports(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| {
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_read_verbatim() {
        let env = parse_exports(
            "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19093\nexport KAFKA_PROP_SASL_PASSWORD='pw,ab;x'\n",
        );
        assert_eq!(env["KAFKA_BOOTSTRAP_SERVERS"], "127.0.0.1:19093");
        assert_eq!(env["KAFKA_PROP_SASL_PASSWORD"], "pw,ab;x");
    }
}
