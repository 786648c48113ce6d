//! `traffic run`: the load generator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use domain::Provider;
use traffic::load::{self, LoadConfig};

use super::{now_ms, targets};

/// Send realistic call scenarios (both providers) by count or at a rate,
/// and report sent, acknowledged, failed and latency percentiles.
#[derive(clap::Args)]
pub struct Args {
    /// Ingest base URL (or a load balancer in front of several).
    #[arg(long, env = "INGEST_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A Yeastar source as NAME=SECRET; repeat for several.
    #[arg(long = "yeastar")]
    yeastar: Vec<String>,
    /// A Dialpad source as NAME=SECRET, or NAME for an unsigned one; repeat for several.
    #[arg(long = "dialpad")]
    dialpad: Vec<String>,
    /// Distinct events to send.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Events per second (0: as fast as the concurrency allows).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Fraction of events sent twice, as a retrying sender does (0-1).
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Deliver each call's events in a random order.
    #[arg(long)]
    reorder: bool,
    /// Retries of a request that failed with a transport error or a 5xx.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Keep retrying a failed request until this long after its first
    /// attempt (e.g. 30s), beyond --retries.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    retry_for: Duration,
    /// First call number (default: from the clock, so runs never collide).
    #[arg(long)]
    first_call: Option<u64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the event id of every acknowledged request to this file, one per line.
    #[arg(long)]
    acked_out: Option<PathBuf>,
}

/// Sends the load; prints the report; exits 1 when a request failed.
pub async fn run(a: Args) -> Result<()> {
    let mut t = targets(Provider::Yeastar, &a.yeastar)?;
    t.extend(targets(Provider::Dialpad, &a.dialpad)?);
    if t.is_empty() {
        bail!("name at least one source: --yeastar NAME=SECRET or --dialpad NAME[=SECRET]");
    }
    let cfg = LoadConfig {
        url: a.url,
        targets: t,
        events: a.events,
        rate: a.rate,
        concurrency: a.concurrency,
        duplicates: a.duplicates.clamp(0.0, 1.0),
        reorder: a.reorder,
        retries: a.retries,
        retry_for: a.retry_for,
        first_call: a.first_call.unwrap_or_else(|| now_ms() as u64),
        seed: a.seed,
        timeout: Duration::from_secs(15),
    };
    let requests = load::plan(&cfg);
    let report = load::run(&cfg, requests).await?;
    if let Some(path) = a.acked_out {
        let ids: String = report
            .acked_ids
            .iter()
            .map(|id| format!("{id}\n"))
            .collect();
        std::fs::write(&path, ids).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "sent {}  acknowledged {} ({} duplicate)  failed {}  retries {} (of {} requests)  in {:.2} s ({:.0}/s)",
            report.sent,
            report.acknowledged,
            report.duplicates,
            report.failed,
            report.retries,
            report.retried,
            report.seconds,
            report.events_per_second
        );
        println!(
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            report.latency_ms_p50,
            report.latency_ms_p90,
            report.latency_ms_p99,
            report.latency_ms_max
        );
    }
    if report.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
