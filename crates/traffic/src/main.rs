//! `traffic`: sends signed call scenarios to an ingest URL, and measures
//! the live board under that load (`board-watch`).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use traffic::scenario::{self, SignedRequest};
use traffic::Client;

#[derive(Parser)]
#[command(
    name = "traffic",
    version,
    about = "Send signed call scenarios to Switchboard"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Yeastar,
    Dialpad,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send realistic call scenarios (both providers) by count or at a rate,
    /// and report sent, acknowledged, failed and latency percentiles.
    Run {
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
        acked_out: Option<std::path::PathBuf>,
    },
    /// Measure the live board: hold CLIENTS event streams (one login, the
    /// password on stdin), send the background load at RATE for SECONDS, and
    /// a probe call every PROBE_INTERVAL_MS timed from ingest's 200 to its
    /// delta on every stream. Prints the report (JSON with --json).
    BoardWatch {
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
        probes_out: Option<std::path::PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send the steps of one demo call (all of them, or those named).
    Demo {
        /// Ingest base URL.
        #[arg(long, env = "INGEST_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Source name (the URL slug).
        #[arg(long)]
        source: String,
        /// The source's signing secret (Dialpad: omit for unsigned JSON).
        #[arg(long, env = "DEMO_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long, value_enum, default_value = "yeastar")]
        provider: Kind,
        /// Call id (Yeastar) or numeric leg id (Dialpad).
        #[arg(long, default_value = "1732190000.101")]
        call_id: String,
        /// Extension (Yeastar) or numeric user id (Dialpad) that takes the call.
        #[arg(long, default_value = "2002")]
        extension: String,
        /// Steps to send, comma-separated (default: all). Yeastar:
        /// ringing,answered,hold,bye,cdr. Dialpad: ringing,connected,hangup,recording.
        #[arg(long, value_delimiter = ',')]
        steps: Vec<String>,
    },
}

fn targets(provider: domain::Provider, specs: &[String]) -> Result<Vec<traffic::load::Target>> {
    specs
        .iter()
        .map(|s| {
            let (name, secret) = match s.split_once('=') {
                Some((n, sec)) => (n.to_string(), Some(sec.to_string())),
                None => (s.clone(), None),
            };
            if provider == domain::Provider::Yeastar && secret.is_none() {
                bail!("--yeastar {s}: give NAME=SECRET");
            }
            Ok(traffic::load::Target {
                source: name,
                provider,
                secret,
            })
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run {
            url,
            yeastar,
            dialpad,
            events,
            rate,
            concurrency,
            duplicates,
            reorder,
            retries,
            retry_for,
            first_call,
            seed,
            json,
            acked_out,
        } => {
            let mut t = targets(domain::Provider::Yeastar, &yeastar)?;
            t.extend(targets(domain::Provider::Dialpad, &dialpad)?);
            if t.is_empty() {
                bail!("name at least one source: --yeastar NAME=SECRET or --dialpad NAME[=SECRET]");
            }
            let cfg = traffic::load::LoadConfig {
                url,
                targets: t,
                events,
                rate,
                concurrency,
                duplicates: duplicates.clamp(0.0, 1.0),
                reorder,
                retries,
                retry_for,
                first_call: first_call.unwrap_or_else(|| chrono_now_ms() as u64),
                seed,
                timeout: Duration::from_secs(15),
            };
            let requests = traffic::load::plan(&cfg);
            let report = traffic::load::run(&cfg, requests).await?;
            if let Some(path) = acked_out {
                let ids: String = report
                    .acked_ids
                    .iter()
                    .map(|id| format!("{id}\n"))
                    .collect();
                std::fs::write(&path, ids)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if json {
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
        }
        Cmd::BoardWatch {
            board,
            url,
            yeastar,
            dialpad,
            user,
            clients,
            rate,
            seconds,
            concurrency,
            probe_interval_ms,
            probe_extension,
            probe_extensions,
            warmup,
            grace,
            board_pid,
            probes_out,
            json,
        } => {
            let mut t = targets(domain::Provider::Yeastar, &yeastar)?;
            let Some(probe) = t.first().cloned() else {
                bail!("name a Yeastar source for the probes: --yeastar NAME=SECRET");
            };
            t.extend(targets(domain::Provider::Dialpad, &dialpad)?);
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                bail!("no password given: pipe it on stdin");
            }
            if !(rate > 0.0 && seconds > 0.0) {
                bail!("--rate and --seconds must be positive");
            }
            let cfg = traffic::board::WatchConfig {
                board,
                user,
                password,
                clients: clients.max(1),
                load: traffic::load::LoadConfig {
                    url,
                    targets: t,
                    events: (rate * seconds).round() as usize,
                    rate,
                    concurrency,
                    duplicates: 0.0,
                    reorder: false,
                    retries: 3,
                    retry_for: Duration::ZERO,
                    first_call: chrono_now_ms() as u64,
                    seed: 1,
                    timeout: Duration::from_secs(15),
                },
                probe_source: probe.source,
                probe_secret: probe.secret.unwrap_or_default(),
                probe_extension,
                probe_extensions,
                probe_interval: Duration::from_millis(probe_interval_ms.max(1)),
                warmup: Duration::from_secs_f64(warmup.max(0.0)),
                grace: Duration::from_secs_f64(grace.max(0.0)),
                board_pid,
            };
            let report = traffic::board::run(&cfg).await?;
            if let Some(path) = probes_out {
                let mut lines = String::new();
                for r in &report.records {
                    lines.push_str(&serde_json::to_string(r)?);
                    lines.push('\n');
                }
                std::fs::write(&path, lines)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let (l, p, s) = (&report.latency_ms, &report.probes, &report.streams);
                println!(
                    "{} streams; load {:.0}/s ({} failed); probes {} acknowledged, {} received by every stream",
                    s.clients, report.load.events_per_second, report.load.failed, p.acknowledged, p.received_by_all
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
            }
        }
        Cmd::Demo {
            url,
            source,
            secret,
            provider,
            call_id,
            extension,
            steps,
        } => {
            let all = match provider {
                Kind::Yeastar => scenario::yeastar_inbound(&call_id, "+15555550100", &extension),
                Kind::Dialpad => {
                    let leg: u64 = call_id.parse().context("a Dialpad --call-id is numeric")?;
                    let user: u64 = extension
                        .parse()
                        .context("a Dialpad --extension is a numeric user id")?;
                    let t0 = chrono_now_ms();
                    scenario::dialpad_inbound(leg, user, "Demo Agent", "+15555550100", t0)
                }
            };
            let chosen: Vec<_> = if steps.is_empty() {
                all
            } else {
                let mut v = Vec::new();
                for s in &steps {
                    match all.iter().find(|st| st.label == s) {
                        Some(st) => v.push(st.clone()),
                        None => bail!(
                            "unknown step {s:?}; known: {}",
                            all.iter().map(|s| s.label).collect::<Vec<_>>().join(",")
                        ),
                    }
                }
                v
            };
            let mut client = Client::from_url(&url, Duration::from_secs(10))?;
            let path = format!("/webhooks/{source}");
            for step in chosen {
                let SignedRequest { headers, body } = match provider {
                    Kind::Yeastar => {
                        let Some(s) = secret.as_deref() else {
                            bail!("a Yeastar source needs --secret");
                        };
                        scenario::sign_yeastar(s, &step.body)
                    }
                    Kind::Dialpad => scenario::sign_dialpad(secret.as_deref(), &step.body),
                };
                let r = client
                    .post(&path, &headers, &body)
                    .await
                    .with_context(|| format!("posting step {} to {url}{path}", step.label))?;
                println!("{:<10} -> {} {}", step.label, r.status, r.text().trim());
                if r.status != 200 {
                    bail!("step {} was refused with {}", step.label, r.status);
                }
            }
        }
    }
    Ok(())
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
