//! `worker`: runs the processing loop and the operator commands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use domain::telemetry::parse_duration;
use domain::Provider;
use tokio::sync::watch;
use worker::{admin, Worker, WorkerConfig};

#[derive(Parser)]
#[command(
    name = "worker",
    version,
    about = "Switchboard worker and operator commands"
)]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Events claimed per transaction.
    #[arg(long, env = "WORKER_BATCH_SIZE", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    batch_size: i64,
    /// Wait between claims when nothing is pending (e.g. 200ms, 1s).
    #[arg(long, env = "WORKER_POLL_INTERVAL", default_value = "200ms", value_parser = parse_duration)]
    poll_interval: Duration,
    /// Attempts before an event is dead (kept, not retried automatically).
    #[arg(long, env = "WORKER_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..))]
    max_attempts: i32,
    /// First retry delay after a failure; doubles per attempt, with jitter.
    #[arg(long, env = "WORKER_BACKOFF_BASE", default_value = "1s", value_parser = parse_duration)]
    backoff_base: Duration,
    /// Longest retry delay.
    #[arg(long, env = "WORKER_BACKOFF_CAP", default_value = "5m", value_parser = parse_duration)]
    backoff_cap: Duration,
    /// Database connections held by this worker (plus one for LISTEN).
    #[arg(long, env = "WORKER_POOL_SIZE", default_value_t = 2)]
    pool_size: usize,
    /// Poll only: no LISTEN connection (for poolers in transaction mode).
    #[arg(long, env = "WORKER_POLL_ONLY")]
    poll_only: bool,
    /// Serve /metrics and /healthz on this address (e.g. 0.0.0.0:9090); off when unset.
    #[arg(long, env = "WORKER_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// On SIGTERM/SIGINT, how long the current batch may take to commit
    /// before the worker exits anyway (its transaction then rolls back).
    #[arg(long, env = "WORKER_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
}

#[derive(Subcommand)]
enum Cmd {
    /// Process events until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Apply the database migrations (waiting for the database to come up).
    Migrate {
        /// How long to retry connecting before giving up.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        wait: Duration,
    },
    /// Drain what is pending now, then exit.
    Process {
        /// Required: process once and exit (`worker run` keeps running).
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Inbox statistics: pending by source and type, lag, throughput,
    /// retrying and dead events with their latest errors, last event per source.
    Stats {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Exit with status 3 when more events than this are pending.
        #[arg(long)]
        max_pending: Option<i64>,
        /// Exit with status 3 when more events than this are dead.
        #[arg(long)]
        max_dead: Option<i64>,
    },
    /// Delete processed events older than a cutoff, in small batches.
    Prune {
        /// e.g. 30d, 12h.
        #[arg(long, value_parser = parse_duration)]
        older_than: Duration,
        /// Also delete dead events that died before the cutoff.
        #[arg(long)]
        include_dead: bool,
        /// Rows per delete transaction.
        #[arg(long, default_value_t = 5000)]
        batch_size: i64,
    },
    /// Manage webhook sources.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Re-queue dead events (by id, source, event type, or all of them).
    Replay {
        /// Event id; repeat for several.
        #[arg(long = "id")]
        ids: Vec<i64>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        event_type: Option<String>,
        /// Every dead event.
        #[arg(long, conflicts_with_all = ["ids", "source", "event_type"])]
        all: bool,
    },
    /// Print the extension board and the most recent calls.
    Board {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// First wait (at most this long) until no event is pending.
        #[arg(long, value_parser = parse_duration)]
        wait_idle: Option<Duration>,
    },
}

#[derive(Subcommand)]
enum SourceCmd {
    /// Create a source (idempotent: re-running adds new secrets).
    Add {
        /// Slug used in the URL: /webhooks/NAME.
        name: String,
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        /// Signing secret; repeat for several (all are accepted).
        #[arg(long = "secret")]
        secrets: Vec<String>,
    },
    /// Add a secret to a source (rotation: add the new, switch the sender, revoke the old).
    AddSecret { name: String, secret: String },
    /// Revoke the active secrets of a source that start with PREFIX.
    RevokeSecret { name: String, prefix: String },
    /// List sources (secrets masked).
    List,
    /// Accept webhooks for a source again.
    Enable { name: String },
    /// Refuse webhooks for a source (404) without deleting anything.
    Disable { name: String },
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

async fn connect(url: &str) -> Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = dotenvy::dotenv();
    domain::telemetry::init();
    let cli = Cli::parse();
    let Some(url) = cli.database_url.clone() else {
        bail!("DATABASE_URL is not set (flag --database-url, environment, or .env)");
    };
    match cli.cmd {
        Cmd::Migrate { wait } => {
            let deadline = Instant::now() + wait;
            let mut delay = Duration::from_millis(200);
            let applied = loop {
                match domain::db::migrate(&url).await {
                    Ok(applied) => break applied,
                    Err(domain::db::DbError::Connect(e)) if Instant::now() < deadline => {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => return Err(e).with_context(|| format!("migrating {}", redact(&url))),
                }
            };
            if applied.is_empty() {
                println!("schema is up to date");
            } else {
                for v in &applied {
                    println!("applied migration {v}");
                }
            }
        }
        Cmd::Run(args) => run(&url, args).await?,
        Cmd::Process { once, run } => {
            if !once {
                bail!("`worker process` needs --once (use `worker run` to keep processing)");
            }
            let pool = domain::db::pool(&url, 1, Duration::from_secs(10))
                .context("building the connection pool")?;
            let mut worker = Worker::new(pool, config(&run));
            let r = worker.drain().await.context("processing")?;
            println!(
                "processed {} event(s): {} applied, {} ignored, {} failed, {} dead",
                r.claimed, r.applied, r.ignored, r.failed, r.dead
            );
        }
        Cmd::Stats {
            json,
            max_pending,
            max_dead,
        } => {
            let mut conn = connect(&url).await?;
            let s = admin::stats(&mut conn).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", admin::render_stats(&s));
            }
            let mut over = Vec::new();
            if let Some(m) = max_pending.filter(|m| s.pending > *m) {
                over.push(format!("{} pending > {m}", s.pending));
            }
            if let Some(m) = max_dead.filter(|m| s.dead > *m) {
                over.push(format!("{} dead > {m}", s.dead));
            }
            if !over.is_empty() {
                eprintln!("threshold exceeded: {}", over.join(", "));
                std::process::exit(3);
            }
        }
        Cmd::Prune {
            older_than,
            include_dead,
            batch_size,
        } => {
            let mut conn = connect(&url).await?;
            let n = admin::prune(&mut conn, older_than, include_dead, batch_size.max(1)).await?;
            println!("deleted {n} event(s)");
        }
        Cmd::Source(cmd) => source(&url, cmd).await?,
        Cmd::Replay {
            ids,
            source,
            event_type,
            all,
        } => {
            if !all && ids.is_empty() && source.is_none() && event_type.is_none() {
                bail!(
                    "say which dead events to replay: --id N, --source S, --event-type T, or --all"
                );
            }
            let mut conn = connect(&url).await?;
            let n = admin::replay(
                &mut conn,
                &admin::ReplayFilter {
                    ids,
                    source,
                    event_type,
                    all,
                },
            )
            .await?;
            println!("re-queued {n} dead event(s)");
        }
        Cmd::Board { source, wait_idle } => {
            let mut conn = connect(&url).await?;
            if let Some(limit) = wait_idle {
                let deadline = Instant::now() + limit;
                loop {
                    let pending = admin::pending_count(&mut conn).await?;
                    if pending == 0 {
                        break;
                    }
                    if Instant::now() > deadline {
                        eprintln!("still {pending} event(s) pending after {limit:?}");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            print!("{}", admin::board(&mut conn, source.as_deref()).await?);
        }
    }
    Ok(())
}

async fn run(url: &str, args: RunArgs) -> Result<()> {
    let pool = domain::db::pool(url, args.pool_size.max(1), Duration::from_secs(5))
        .context("building the connection pool")?;
    let cfg = config(&args);
    if let Some(bind) = &args.metrics_bind {
        let handle =
            domain::telemetry::install_metrics().context("installing the metrics recorder")?;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind} for metrics"))?;
        tracing::info!(addr = %bind, "metrics listening");
        tokio::spawn(worker::metrics_server::serve(listener, handle));
        tokio::spawn(worker::metrics_server::sample_depth(
            pool.clone(),
            Duration::from_secs(5),
        ));
    }
    tracing::info!(
        batch_size = cfg.batch_size,
        poll_interval_ms = cfg.poll_interval.as_millis() as u64,
        max_attempts = cfg.max_attempts,
        listen = !args.poll_only,
        "worker started"
    );
    let (tx, rx) = watch::channel(false);
    let deadline = args.shutdown_timeout;
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(
            deadline_s = deadline.as_secs_f64(),
            "shutdown requested: finishing the current batch"
        );
        let _ = tx.send(true);
        tokio::time::sleep(deadline).await;
        tracing::error!(
            "the current batch did not finish within the shutdown deadline: exiting; it rolls back"
        );
        std::process::exit(1);
    });
    let wake = Arc::new(tokio::sync::Notify::new());
    if !args.poll_only {
        tokio::spawn(worker::listener::listen(
            url.to_string(),
            wake.clone(),
            rx.clone(),
        ));
    }
    let mut worker = Worker::new(pool, cfg);
    worker.run(rx, wake).await;
    tracing::info!("worker stopped");
    Ok(())
}

fn config(args: &RunArgs) -> WorkerConfig {
    WorkerConfig {
        batch_size: args.batch_size,
        poll_interval: args.poll_interval,
        max_attempts: args.max_attempts,
        backoff_base: args.backoff_base,
        backoff_cap: args.backoff_cap,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn source(url: &str, cmd: SourceCmd) -> Result<()> {
    let mut conn = connect(url).await?;
    match cmd {
        SourceCmd::Add {
            name,
            provider,
            secrets,
        } => {
            let created = admin::add_source(&mut conn, &name, provider, &secrets).await?;
            println!(
                "{} source {name} ({provider}, {} secret(s) given)",
                if created { "created" } else { "updated" },
                secrets.len()
            );
        }
        SourceCmd::AddSecret { name, secret } => {
            admin::add_secret(&mut conn, &name, &secret).await?;
            println!("added secret {} to {name}", admin::mask_secret(&secret));
        }
        SourceCmd::RevokeSecret { name, prefix } => {
            let n = admin::revoke_secret(&mut conn, &name, &prefix).await?;
            println!("revoked {n} secret(s) of {name}");
        }
        SourceCmd::List => {
            println!(
                "{:<20} {:<9} {:<8} {:<20} SECRETS",
                "NAME", "PROVIDER", "ENABLED", "CREATED"
            );
            for s in admin::list_sources(&mut conn).await? {
                println!(
                    "{:<20} {:<9} {:<8} {:<20} {}",
                    s.name,
                    s.provider,
                    s.enabled,
                    s.created_at.format("%Y-%m-%d %H:%M:%S"),
                    if s.secrets.is_empty() {
                        "(none: unsigned)".to_string()
                    } else {
                        s.secrets.join(", ")
                    }
                );
            }
        }
        SourceCmd::Enable { name } => {
            admin::set_enabled(&mut conn, &name, true).await?;
            println!("enabled {name}");
        }
        SourceCmd::Disable { name } => {
            admin::set_enabled(&mut conn, &name, false).await?;
            println!("disabled {name}");
        }
    }
    Ok(())
}
