//! `ingest`: the webhook receiver.

use anyhow::{Context, Result};
use clap::builder::TypedValueParser as _;
use clap::Parser;
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
    /// Serve /metrics, /readyz and /healthz for operators on this address
    /// (e.g. 0.0.0.0:9091); never expose it publicly. Off when unset.
    #[arg(long, env = "INGEST_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// Database connections held by this process.
    #[arg(long, env = "INGEST_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pool_size: usize,
    /// DATABASE_URL is a pooler in transaction mode (PgBouncer
    /// `pool_mode = transaction`): no statement stays prepared across
    /// transactions.
    #[arg(long, env = "DATABASE_TRANSACTION_POOLER")]
    transaction_pooler: bool,
    #[command(flatten)]
    config: IngestConfig,
}

#[actix_web::main]
async fn main() {
    telemetry::run_main(run).await
}

/// Loads the key, builds the pool, binds the listeners and serves until
/// SIGTERM/SIGINT.
async fn run(cli: Cli) -> Result<()> {
    // Fail closed: without the key no sealed secret opens, so refuse to
    // start rather than answer 503 to every signed source.
    let keys = store::secrets::Keyring::from_env()
        .map_err(|e| anyhow::anyhow!("ingest cannot start: {e}"))?;
    tracing::info!(
        key = keys.current_id(),
        previous_key = keys.previous_id(),
        "secrets key loaded"
    );
    drop(keys);
    let mut cfg = cli.config;
    cfg.group_commit_in_flight = cfg.group_commit_in_flight.min(cli.pool_size);
    let upstream = store::Upstream::when(cli.transaction_pooler);
    let pool = store::pool_with(
        &cli.database_url,
        store::PoolConfig {
            size: cli.pool_size,
            wait: cfg.db_timeout,
            upstream,
            deadlines: store::Deadlines {
                statement: cfg.statement_timeout,
            },
        },
    )
    .context("building the connection pool")?;
    let listener = telemetry::bind(&cli.bind)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let admin = telemetry::bind_ops(cli.metrics_bind.as_deref())?;
    let metrics = telemetry::install_metrics();
    store::health::describe();
    tracing::info!(%addr, metrics = ?cli.metrics_bind, max_body_bytes = cfg.max_body_bytes, "ingest listening");
    ingest::serve(listener, admin, pool, cfg, metrics)
        .context("starting the HTTP server")?
        .await
        .context("HTTP server failed")?;
    tracing::info!("ingest stopped");
    Ok(())
}
