//! Runs the Python interoperability checkers (fastavro, jsonschema) on files we wrote.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

fn run_python(script: &str, args: &[&Path]) -> Result<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(script);
    let output = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .context("python3 is needed for the interoperability tests (deploy/local/install.sh installs its packages)")?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        bail!("{} failed:\n{report}", script.display());
    }
    Ok(report)
}

/// Decodes every `*.bin` in `dir` with fastavro using only `schemas/avro/*.avsc`.
pub fn fastavro_decode(dir: &Path) -> Result<String> {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/avro");
    run_python("fastavro_decode.py", &[&schemas, dir])
}

/// Validates every `*.json` in `dir` against `schemas/json/raw-event.schema.json`.
pub fn json_schema_validate(dir: &Path) -> Result<String> {
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/json/raw-event.schema.json");
    run_python("json_schema_validate.py", &[&schema, dir])
}
