//! Workload files: `workload.ndjson` (one message per line: send time, key, raw payload as a
//! JSON string, so planted garbage survives) and `expected.json`.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::expected::Expected;
use crate::generate::Message;

#[derive(Serialize, Deserialize)]
struct Line {
    at: chrono::DateTime<chrono::Utc>,
    key: Option<String>,
    raw: String,
}

/// Writes `dir/workload.ndjson` and `dir/expected.json`.
pub fn write(dir: &Path, messages: &[Message], expected: &Expected) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("workload.ndjson");
    let mut out = BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    for m in messages {
        let line = Line {
            at: m.at,
            key: m.key.clone(),
            raw: m.payload.clone(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let path = dir.join("expected.json");
    std::fs::write(&path, serde_json::to_vec_pretty(expected)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads `dir/workload.ndjson`.
pub fn read_messages(dir: &Path) -> Result<Vec<Message>> {
    let path = dir.join("workload.ndjson");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let line: Line = serde_json::from_str(&line?)
                .with_context(|| format!("{}:{}", path.display(), n + 1))?;
            Ok(Message {
                at: line.at,
                key: line.key,
                payload: line.raw,
            })
        })
        .collect()
}

/// Reads `dir/expected.json`.
pub fn read_expected(dir: &Path) -> Result<Expected> {
    let path = dir.join("expected.json");
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}
