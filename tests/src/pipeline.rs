//! The whole pipeline as separate processes on the local stack, and the checks that compare
//! what it wrote with a load generator's expected outcome: the chaos test and the end-to-end
//! benchmark share them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clickhouse::Client;
use loadgen::Expected;
use rdkafka::message::Message;
use serde::Deserialize;

use crate::{binary, ServiceProcess};

/// The five services, in pipeline order.
pub const SERVICES: [&str; 5] = ["ingest", "enricher", "attributor", "risk", "ledger-writer"];

/// The example reference data every end-to-end run uses.
pub const REFERENCE: &str = include_str!("../../deploy/local/sample/reference.toml");

/// The five services running as child processes.
#[derive(Debug)]
pub struct Pipeline {
    env: HashMap<String, String>,
    logs: PathBuf,
    running: BTreeMap<&'static str, ServiceProcess>,
    admin: BTreeMap<&'static str, u16>,
}

impl Pipeline {
    /// Starts every service with `env`; each appends its log to `logs/<service>.log`.
    pub fn start(env: &HashMap<String, String>, logs: &Path) -> Result<Pipeline> {
        std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
        let mut pipeline = Pipeline {
            env: env.clone(),
            logs: logs.to_path_buf(),
            running: BTreeMap::new(),
            admin: BTreeMap::new(),
        };
        for name in SERVICES {
            pipeline.start_service(name)?;
        }
        Ok(pipeline)
    }

    /// Starts (or restarts) one service, on an admin port of its own.
    pub fn start_service(&mut self, name: &'static str) -> Result<()> {
        let log = self.logs.join(format!("{name}.log"));
        let port = crate::free_port();
        let mut env = self.env.clone();
        env.insert("ADMIN_LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
        let process = ServiceProcess::start_logged(&binary(name), &env, &log)?;
        self.running.insert(name, process);
        self.admin.insert(name, port);
        Ok(())
    }

    /// A service's admin port (metrics, liveness, readiness).
    pub fn admin_port(&self, name: &str) -> Option<u16> {
        self.admin.get(name).copied()
    }

    /// Writes every running service's `/metrics` to `<logs>/<service>.metrics.txt`, so a run
    /// that ends short can be read afterwards (consumer lag, assignments, forced rejoins,
    /// held-back inputs); returns the directory.
    pub fn save_metrics(&self) -> &Path {
        for (name, port) in &self.admin {
            let path = self.logs.join(format!("{name}.metrics.txt"));
            if let Err(e) = std::fs::write(&path, crate::http_get(*port, "/metrics")) {
                eprintln!("could not write {}: {e}", path.display());
            }
        }
        &self.logs
    }

    /// Fails the test with `error`, after saving every service's metrics next to its log
    /// ([`Pipeline::save_metrics`]) and naming that folder.
    pub fn fail(&self, error: &anyhow::Error) -> ! {
        let folder = self.save_metrics();
        panic!(
            "{error:#} (every service's logs and metrics: {})",
            folder.display()
        )
    }

    /// Waits until every service is ready and has partitions assigned, so what is measured
    /// next is not start-up.
    pub fn wait_ready(&self, deadline: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let waiting: Vec<&str> = self
                .admin
                .iter()
                .filter(|(_, port)| {
                    // Every consumer loop counts its assignments as `<loop>_rebalances_total`.
                    let assigned = crate::http_get(**port, "/metrics").lines().any(|l| {
                        l.contains("_rebalances_total{kind=\"assign\"}") && !l.ends_with(" 0")
                    });
                    crate::http_get(**port, "/_readiness").trim() != "ready" || !assigned
                })
                .map(|(name, _)| *name)
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if started.elapsed() > deadline {
                bail!("not ready after {deadline:?}: {}", waiting.join(", "));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// SIGTERM one service (it drains and commits), then starts it again: it restores its
    /// state from the changelog.
    pub fn restart(&mut self, name: &'static str) -> Result<()> {
        if let Some(mut process) = self.running.remove(name) {
            process.terminate(Duration::from_secs(60))?;
        }
        self.start_service(name)
    }

    /// `kill -9` one service: no drain, no commit.
    pub fn kill_hard(&mut self, name: &'static str) {
        if let Some(mut process) = self.running.remove(name) {
            process.kill_hard();
        }
    }

    /// Restarts every service that exited (as an orchestrator would: a service stops on an
    /// error it cannot handle, e.g. no broker at start-up) and names them.
    pub fn revive(&mut self) -> Result<Vec<&'static str>> {
        let exited: Vec<&'static str> = self
            .running
            .iter_mut()
            .filter_map(|(name, process)| process.exited().then_some(*name))
            .collect();
        for name in &exited {
            self.start_service(name)?;
        }
        Ok(exited)
    }

    /// The process ids, for CPU and memory readings.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.running.iter().map(|(n, p)| (*n, p.id())).collect()
    }

    /// SIGTERM to every service; each must drain and exit 0.
    pub fn stop(&mut self) -> Result<()> {
        let mut failures = Vec::new();
        for (name, mut process) in std::mem::take(&mut self.running) {
            match process.terminate(Duration::from_secs(60)) {
                Ok(status) if status.success() => {}
                Ok(status) => failures.push(format!("{name} exited with {status}")),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        if !failures.is_empty() {
            bail!("services did not stop cleanly: {}", failures.join("; "));
        }
        Ok(())
    }
}

/// A commission line as the ledger holds it in ClickHouse.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct LedgerLine {
    /// Id.
    pub commission_id: String,
    /// `commission`, `refund` or `clawback`.
    pub line_kind: String,
    /// Partner.
    pub partner_id: String,
    /// Order.
    pub order_id: String,
    /// Signed minor units.
    pub amount_minor: i64,
    /// Ledger status.
    pub status: String,
}

/// Every current commission line (`FINAL`: one row per id).
pub async fn ledger_lines(db: &Client) -> Result<Vec<LedgerLine>> {
    Ok(db
        .query("SELECT commission_id, line_kind, partner_id, order_id, amount_minor, status FROM commissions FINAL")
        .fetch_all::<LedgerLine>()
        .await?)
}

/// Differences between the ledger and the oracle, in words (empty when they agree): every
/// expected id present with its kind, partner, order and exact amount, nothing else, and the
/// lines that must end reversed are reversed.
pub fn compare(expected: &Expected, actual: &[LedgerLine]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut by_id: BTreeMap<&str, &LedgerLine> = BTreeMap::new();
    for line in actual {
        if by_id.insert(&line.commission_id, line).is_some() {
            problems.push(format!("{} appears twice", line.commission_id));
        }
    }
    for want in &expected.lines {
        match by_id.remove(want.commission_id.as_str()) {
            None => problems.push(format!(
                "missing {} {} of {} for {} ({})",
                want.line_kind,
                want.commission_id,
                want.order_id,
                want.partner_id,
                want.amount_minor
            )),
            Some(got) => {
                if (
                    got.line_kind.as_str(),
                    got.partner_id.as_str(),
                    got.order_id.as_str(),
                    got.amount_minor,
                ) != (
                    want.line_kind.as_str(),
                    want.partner_id.as_str(),
                    want.order_id.as_str(),
                    want.amount_minor,
                ) {
                    problems.push(format!(
                        "{} differs: expected {want:?}, ledger has {got:?}",
                        want.commission_id
                    ));
                }
                if want.must_end_reversed && got.status != "reversed" {
                    problems.push(format!(
                        "{} of {} should be reversed, is {}",
                        want.commission_id, want.order_id, got.status
                    ));
                }
            }
        }
    }
    for extra in by_id.values() {
        problems.push(format!("unexpected line {extra:?}"));
    }
    problems
}

/// The sample reference data, parsed.
pub fn sample_reference() -> Result<reference::ReferenceSet> {
    reference::parse(REFERENCE).map_err(|e| anyhow::anyhow!("the sample reference data: {e:?}"))
}

/// A load-generator workload over the sample reference data: `events` raw messages (seeded by
/// `seed`) with orders over `days` from 2026-06-01, the start every test and benchmark uses.
pub fn sample_workload(
    seed: u64,
    events: usize,
    days: i64,
) -> Result<(reference::ReferenceSet, loadgen::Workload)> {
    let set = sample_reference()?;
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")?.to_utc();
    let workload = loadgen::generate(
        &set,
        &loadgen::Settings {
            seed,
            events,
            start,
            days,
        },
    )
    .map_err(|e| anyhow::anyhow!("generating the workload: {e}"))?;
    Ok((set, workload))
}

/// Replays a generated workload (`seed`, `events` over 60 days from 2026-06-01) through a
/// running pipeline, waits until ClickHouse holds exactly the oracle's lines, then pays: a
/// payout run per sample program and every created payout completed (eight commands at a
/// time, each waiting for its outcome). Returns the oracle's line count.
pub async fn run_paid_workload(
    env: &HashMap<String, String>,
    db: &Client,
    seed: u64,
    events: usize,
) -> Result<u64> {
    let (_, workload) = sample_workload(seed, events, 60)?;
    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "workload", "127.0.0.1:0");
    loadgen::replay::replay(
        &common.kafka,
        "workload-replay",
        &common.topics.touchpoints_raw,
        &workload.messages,
        loadgen::replay::Pace {
            rate: None,
            progress: false,
        },
    )
    .await?;
    let want = workload.expected.lines.len() as u64;
    let lines = wait_for_lines(db, want, Duration::from_secs(300), || {}).await?;
    if lines != want {
        bail!("the pipeline produced {lines} lines, the oracle expects {want}");
    }
    let period_end = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for program in ["sandals-eu", "bolt-us"] {
        let (ok, out) = crate::ledger::ledger_command(
            env,
            &[
                "payout",
                "run",
                "--program",
                program,
                "--period-end",
                &period_end,
            ],
        )?;
        if !ok {
            bail!("payout run for {program}: {out}");
        }
    }
    let created: Vec<String> = db
        .query("SELECT payout_id FROM payouts FINAL WHERE status = 'created' ORDER BY payout_id")
        .fetch_all()
        .await?;
    if created.is_empty() {
        bail!("the payout runs created no payouts");
    }
    for chunk in created.chunks(8) {
        let failed: Vec<String> = std::thread::scope(|s| {
            let running: Vec<_> = chunk
                .iter()
                .map(|payout| {
                    s.spawn(move || {
                        crate::ledger::ledger_command(
                            env,
                            &["payout", "complete", "--payout", payout],
                        )
                        .map_or_else(|e| Some(e.to_string()), |(ok, out)| (!ok).then_some(out))
                    })
                })
                .collect();
            running
                .into_iter()
                .filter_map(|h| h.join().unwrap_or_else(|_| Some("panicked".into())))
                .collect()
        });
        if !failed.is_empty() {
            bail!("payout complete failed: {failed:?}");
        }
    }
    Ok(want)
}

/// Polls until ClickHouse holds at least `want` commission lines, `deadline` passes or the
/// count stops moving for three minutes, calling `tick` on every poll; returns how many it holds.
pub async fn wait_for_lines(
    db: &Client,
    want: u64,
    deadline: Duration,
    mut tick: impl FnMut(),
) -> Result<u64> {
    let started = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        tick();
        let n = crate::ledger::count(db, "SELECT count() FROM commissions FINAL")
            .await
            .unwrap_or(0);
        if n >= want {
            return Ok(n);
        }
        if n != last.0 {
            last = (n, Instant::now());
        }
        // Nothing new for three minutes: the pipeline has finished short of `want`.
        if started.elapsed() > deadline || last.1.elapsed() > Duration::from_secs(180) {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Dead letters on the namespace's dead-letter topic, one per bad input: reason by (service,
/// event id), or by (service, message key) when the input had no readable event id (the load
/// generator gives every bad input its own key), else by source position. A service killed
/// after writing a dead letter but before committing writes it again on restart, an upstream
/// service re-emitting after its own crash gives the same event a new source offset, and a
/// replay rewinding after a broker outage sends it twice; each is one bad input, counted once. Reads until `want` inputs, then
/// three seconds more so an extra one shows up too, or until `deadline`.
pub fn dead_letters(
    namespace: &str,
    want: usize,
    deadline: Duration,
) -> Result<BTreeMap<(String, String), String>> {
    let topic = format!("{namespace}.touchpoints.dlq.v1");
    let mut inputs = BTreeMap::new();
    let mut seen = 0;
    let mut reached: Option<Instant> = None;
    crate::consume_until(&topic, deadline, |messages| {
        for m in &messages[seen..] {
            if let Ok(letter) =
                schemas::decode::<schemas::DeadLetter>(m.payload().unwrap_or_default())
            {
                let identity = match (letter.event_id, &letter.source_key) {
                    (Some(id), _) => id,
                    (None, Some(key)) => format!("key:{}", String::from_utf8_lossy(key)),
                    (None, None) => format!(
                        "{}/{}@{}",
                        letter.source_topic, letter.source_partition, letter.source_offset
                    ),
                };
                inputs.insert((letter.service, identity), letter.reason);
            }
        }
        seen = messages.len();
        if inputs.len() >= want && reached.is_none() {
            reached = Some(Instant::now());
        }
        reached.is_some_and(|at| at.elapsed() > Duration::from_secs(3))
    })
    .with_context(|| format!("reading {topic}"))?;
    Ok(inputs)
}
