//! `ingest`: the webhook receiver.

use std::net::TcpListener;

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
    /// Database connections held by this process.
    #[arg(long, env = "INGEST_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pool_size: usize,
    #[command(flatten)]
    config: IngestConfig,
}

#[actix_web::main]
async fn main() -> Result<()> {
    let _ = dotenvy::dotenv();
    telemetry::init_logging();
    let cli = Cli::parse();
    let mut cfg = cli.config;
    cfg.group_commit_in_flight = cfg.group_commit_in_flight.min(cli.pool_size);
    let pool = store::pool(&cli.database_url, cli.pool_size, cfg.db_timeout)
        .context("building the connection pool")?;
    let listener =
        TcpListener::bind(&cli.bind).with_context(|| format!("cannot listen on {}", cli.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let metrics = telemetry::install_metrics();
    tracing::info!(%addr, max_body_bytes = cfg.max_body_bytes, "ingest listening");
    ingest::serve(listener, pool, cfg, metrics)
        .context("starting the HTTP server")?
        .await
        .context("HTTP server failed")?;
    tracing::info!("ingest stopped");
    Ok(())
}
