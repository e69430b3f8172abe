//! `ingest import <file.ndjson>`: backfills offline events (CRM exports, podcast code lists)
//! through exactly the validation, dedup, PII handling and dead-lettering of the stream path.
//! Each non-blank line is one message; its dead-letter source is `file:<path>`, partition -1,
//! offset = line number, so a rejected line can be found and fixed.

use std::io::BufRead;
use std::path::Path;

use prometheus::Registry;
use runtime::{Input, Output, Processor, Producer, RuntimeError};
use schemas::touchpoint::IngestPath;

use crate::app::{topics, IngestProcessor};
use crate::config::IngestConfig;
use crate::metrics::IngestMetrics;
use crate::reason::Reason;

/// Lines sent per acknowledged chunk: bounds memory whatever the file size.
const CHUNK_LINES: usize = 5_000;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Valid touchpoints produced.
    pub valid: u64,
    /// Dead-lettered lines, by reason code.
    pub dead_lettered: Vec<(&'static str, u64)>,
    /// Duplicates dropped.
    pub duplicates: u64,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dead: u64 = self.dead_lettered.iter().map(|(_, n)| n).sum();
        writeln!(f, "lines read:     {}", self.lines)?;
        writeln!(f, "valid:          {}", self.valid)?;
        writeln!(f, "duplicates:     {}", self.duplicates)?;
        writeln!(f, "dead-lettered:  {dead}")?;
        for (reason, n) in &self.dead_lettered {
            writeln!(f, "  {reason:<24} {n}")?;
        }
        write!(f, "blank lines skipped: {}", self.blank_lines)
    }
}

/// Errors of an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        #[source]
        error: std::io::Error,
    },
    /// Kafka or encoding failed; lines up to the last acknowledged chunk were delivered.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Imports `path`, waiting until every output is acknowledged.
pub async fn import(config: &IngestConfig, path: &Path) -> Result<ImportSummary, ImportError> {
    let kafka = &config.common.kafka;
    runtime::service::create_topics(kafka, &topics(&config.common.topics)).await?;
    let producer = Producer::new(kafka, "ingest-import")?;
    let metrics = IngestMetrics::register(&Registry::new()).map_err(RuntimeError::from)?;
    let mut processor = IngestProcessor::new(config, metrics.clone(), IngestPath::Import);
    let read_error = |error| ImportError::Read {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let source = format!("file:{}", path.display());
    let mut reader = std::io::BufReader::new(file);
    let (mut line_no, mut blank) = (0i64, 0u64);
    let mut outputs: Vec<Output> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            break;
        }
        line_no += 1;
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.iter().all(u8::is_ascii_whitespace) {
            blank += 1;
            continue;
        }
        let input = Input {
            topic: &source,
            partition: -1,
            offset: line_no,
            key: None,
            payload: Some(content),
            timestamp_ms: None,
        };
        processor.process(&input, &mut outputs)?;
        if outputs.len() >= CHUNK_LINES {
            producer.send_all(&outputs).await?;
            outputs.clear();
        }
    }
    producer.send_all(&outputs).await?;
    let dead_lettered = Reason::ALL
        .iter()
        .map(|r| {
            (
                r.code(),
                metrics.dead_lettered.with_label_values(&[r.code()]).get(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok(ImportSummary {
        lines: metrics.consumed.get(),
        blank_lines: blank,
        valid: schemas::EventKind::ALL
            .iter()
            .map(|k| metrics.valid.with_label_values(&[k.as_str()]).get())
            .sum(),
        dead_lettered,
        duplicates: metrics.duplicates.get(),
    })
}
