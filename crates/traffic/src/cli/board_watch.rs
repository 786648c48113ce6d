//! `traffic board-watch`: the live board measured under load
//! ([`traffic::board`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use domain::Provider;
use traffic::board::{self, WatchConfig};
use traffic::load::LoadConfig;

use super::{now_ms, targets};

/// Measure the live board: hold CLIENTS event streams (one login, the
/// password on stdin), send the background load at RATE for SECONDS, and
/// a probe call every PROBE_INTERVAL_MS timed from ingest's 200 to its
/// delta on every stream. Prints the report (JSON with --json).
#[derive(clap::Args)]
pub struct Args {
    /// The board's base URL.
    #[arg(long, env = "BOARD_URL", default_value = "http://127.0.0.1:8090")]
    board: String,
    /// Ingest base URL.
    #[arg(long, env = "INGEST_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A Yeastar source as NAME=SECRET (the first also gets the probes); repeat for several.
    #[arg(long = "yeastar")]
    yeastar: Vec<String>,
    /// A Dialpad source as NAME=SECRET, or NAME for an unsigned one.
    #[arg(long = "dialpad")]
    dialpad: Vec<String>,
    /// Board user to log in as (the password is read from stdin).
    #[arg(long)]
    user: String,
    /// Event streams held open.
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// Background events per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Length of the background load, seconds.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Background requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 100)]
    probe_interval_ms: u64,
    /// The first extension the probes ring (the load uses 1001-1040).
    #[arg(long, default_value_t = 9000)]
    probe_extension: u32,
    /// Extensions the probes ring in turn, from --probe-extension on (a
    /// card shows one call: a probe must not be superseded on its card
    /// by the next one).
    #[arg(long, default_value_t = 100)]
    probe_extensions: u32,
    /// Seconds of load before the first probe.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds to wait after the load for the last probes to arrive.
    #[arg(long, default_value_t = 10.0)]
    grace: f64,
    /// The board's process id: sample its memory and CPU time from /proc.
    #[arg(long)]
    board_pid: Option<u32>,
    /// Write one JSON line per probe (ids, times) to this file.
    #[arg(long)]
    probes_out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the measurement; prints the report.
pub async fn run(a: Args) -> Result<()> {
    let mut t = targets(Provider::Yeastar, &a.yeastar)?;
    let Some(probe) = t.first().cloned() else {
        bail!("name a Yeastar source for the probes: --yeastar NAME=SECRET");
    };
    t.extend(targets(Provider::Dialpad, &a.dialpad)?);
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!("no password given: pipe it on stdin");
    }
    if !(a.rate > 0.0 && a.seconds > 0.0) {
        bail!("--rate and --seconds must be positive");
    }
    let cfg = WatchConfig {
        board: a.board,
        user: a.user,
        password,
        clients: a.clients.max(1),
        load: LoadConfig {
            url: a.url,
            targets: t,
            events: (a.rate * a.seconds).round() as usize,
            rate: a.rate,
            concurrency: a.concurrency,
            duplicates: 0.0,
            reorder: false,
            retries: 3,
            retry_for: Duration::ZERO,
            first_call: now_ms() as u64,
            seed: 1,
            timeout: Duration::from_secs(15),
        },
        probe_source: probe.source,
        probe_secret: probe.secret.unwrap_or_default(),
        probe_extension: a.probe_extension,
        probe_extensions: a.probe_extensions,
        probe_interval: Duration::from_millis(a.probe_interval_ms.max(1)),
        warmup: Duration::from_secs_f64(a.warmup.max(0.0)),
        grace: Duration::from_secs_f64(a.grace.max(0.0)),
        board_pid: a.board_pid,
    };
    let report = board::run(&cfg).await?;
    if let Some(path) = a.probes_out {
        let mut lines = String::new();
        for r in &report.records {
            lines.push_str(&serde_json::to_string(r)?);
            lines.push('\n');
        }
        std::fs::write(&path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let (l, p, s) = (&report.latency_ms, &report.probes, &report.streams);
    println!(
        "{} streams; load {:.0}/s ({} failed); probes {} acknowledged, {} received by every stream",
        s.clients,
        report.load.events_per_second,
        report.load.failed,
        p.acknowledged,
        p.received_by_all
    );
    println!(
        "200 -> delta ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} of {} pairs)",
        l.p50, l.p90, l.p99, l.max, p.pairs_received, p.pairs_expected
    );
    if let Some(b) = &report.board {
        println!(
            "board: peak {:.1} MiB, {:.1} MiB with every stream open, CPU {:.1} s under load ({:.0}% of a core)",
            b.hwm_kib as f64 / 1024.0,
            b.rss_kib_connected as f64 / 1024.0,
            b.cpu_seconds_load,
            b.cpu_core_share_load * 100.0
        );
    }
    Ok(())
}
