//! `ingest`: the webhook receiver.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use domain::telemetry::parse_duration;
use ingest::IngestConfig;

#[derive(Parser)]
#[command(name = "ingest", version, about = "Switchboard webhook receiver")]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Listen address.
    #[arg(long, env = "INGEST_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Largest accepted body in bytes (larger: 413).
    #[arg(long, env = "INGEST_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Standard Webhooks timestamp tolerance (e.g. 5m).
    #[arg(long, env = "INGEST_TIMESTAMP_TOLERANCE", default_value = "5m", value_parser = parse_duration)]
    timestamp_tolerance: Duration,
    /// Yeastar retries of an identical body within this window are stored once.
    #[arg(long, env = "INGEST_YEASTAR_DEDUP_WINDOW", default_value = "60s", value_parser = parse_duration)]
    yeastar_dedup_window: Duration,
    /// Longest database wait per request before answering 503.
    #[arg(long, env = "INGEST_DB_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    db_timeout: Duration,
    /// Database connections held by this process.
    #[arg(long, env = "INGEST_POOL_SIZE", default_value_t = 16)]
    pool_size: usize,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "INGEST_WORKERS")]
    workers: Option<usize>,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    #[arg(long, env = "INGEST_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Group commit: most rows per insert transaction.
    #[arg(long, env = "INGEST_GROUP_COMMIT_MAX", default_value_t = 500)]
    group_commit_max: usize,
    /// Group commit: insert transactions in flight (default 2: fewer, larger
    /// commits; raise it on machines with more cores).
    #[arg(long, env = "INGEST_GROUP_COMMIT_IN_FLIGHT")]
    group_commit_in_flight: Option<usize>,
    /// Group commit: how long a batch waits for more rows (0: never).
    #[arg(long, env = "INGEST_GROUP_COMMIT_LINGER", default_value = "0ms", value_parser = parse_duration)]
    group_commit_linger: Duration,
    /// How long source settings (secrets, enabled) are cached; 0 disables.
    #[arg(long, env = "INGEST_SOURCE_CACHE_TTL", default_value = "1s", value_parser = parse_duration)]
    source_cache_ttl: Duration,
}

#[actix_web::main]
async fn main() -> Result<()> {
    let _ = dotenvy::dotenv();
    domain::telemetry::init();
    let cli = Cli::parse();
    let pool = domain::db::pool(&cli.database_url, cli.pool_size.max(1), cli.db_timeout)
        .context("building the connection pool")?;
    let listener =
        TcpListener::bind(&cli.bind).with_context(|| format!("cannot listen on {}", cli.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let cfg = IngestConfig {
        max_body_bytes: cli.max_body_bytes,
        timestamp_tolerance_secs: cli.timestamp_tolerance.as_secs() as i64,
        yeastar_dedup_window: cli.yeastar_dedup_window,
        db_timeout: cli.db_timeout,
        http_workers: cli.workers,
        shutdown_timeout: cli.shutdown_timeout,
        group_commit_max: cli.group_commit_max.max(1),
        group_commit_in_flight: cli
            .group_commit_in_flight
            .unwrap_or(2)
            .clamp(1, cli.pool_size.max(1)),
        group_commit_linger: cli.group_commit_linger,
        source_cache_ttl: cli.source_cache_ttl,
    };
    let metrics = domain::telemetry::install_metrics();
    tracing::info!(%addr, max_body_bytes = cfg.max_body_bytes, "ingest listening");
    ingest::serve(listener, pool, cfg, metrics)
        .context("starting the HTTP server")?
        .await
        .context("HTTP server failed")?;
    tracing::info!("ingest stopped");
    Ok(())
}
