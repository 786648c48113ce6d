//! `board`: the live extension board.

use anyhow::{Context, Result};
use board::BoardConfig;
use clap::builder::TypedValueParser as _;
use clap::Parser;
use store::secrets::{KeyError, Keyring, KEY_VAR};

#[derive(Parser)]
#[command(name = "board", version, about = "Switchboard's live extension board")]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Listen address.
    #[arg(long, env = "BOARD_BIND", default_value = "127.0.0.1:8090")]
    bind: String,
    /// Serve /metrics, /readyz and /healthz for operators on this address
    /// (e.g. 0.0.0.0:9092); never expose it publicly. Off when unset.
    #[arg(long, env = "BOARD_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// Database connections held by this process (plus one for the feed).
    #[arg(long, env = "BOARD_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pool_size: usize,
    /// The server's statement_timeout on every connection (lock_timeout:
    /// half; idle_in_transaction_session_timeout: twice); the client gives
    /// a connection up when a request stays unanswered 5 s longer.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_positive)]
    statement_timeout: std::time::Duration,
    #[command(flatten)]
    config: BoardConfig,
}

/// A duration above zero.
fn parse_positive(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[actix_web::main]
async fn main() {
    telemetry::run_main(run).await
}

/// Builds the pool, binds the listeners, loads the key and serves until
/// SIGTERM/SIGINT.
async fn run(cli: Cli) -> Result<()> {
    let cfg = cli.config;
    let pool = store::pool_with(
        &cli.database_url,
        store::PoolConfig {
            deadlines: store::Deadlines {
                statement: cli.statement_timeout,
            },
            ..store::PoolConfig::new(cli.pool_size, cfg.db_timeout)
        },
    )
    .context("building the connection pool")?;
    let listener = telemetry::bind(&cli.bind)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let admin = telemetry::bind_ops(cli.metrics_bind.as_deref())?;
    if !cfg.cookie_secure {
        tracing::warn!("BOARD_COOKIE_SECURE=false: session cookies also travel over plain HTTP; use it only on loopback or for development");
    }
    // The key opens the phone systems' API credentials (hang-up). Without
    // it the board runs, and refuses hang-ups saying why (fail closed); a
    // malformed key is an error.
    let keys = match Keyring::from_env() {
        Ok(keys) => Some(keys),
        Err(KeyError::Missing(_)) => {
            tracing::warn!("{KEY_VAR} is not set: hanging up calls through the phone systems' APIs is disabled on this board");
            None
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let metrics = telemetry::install_metrics();
    store::health::describe();
    tracing::info!(%addr, metrics = ?cli.metrics_bind, database = %telemetry::redact_url(&cli.database_url), "board listening");
    board::serve(listener, admin, cli.database_url, pool, cfg, metrics, keys)
        .context("starting the HTTP server")?
        .await
        .context("HTTP server failed")?;
    tracing::info!("board stopped");
    Ok(())
}
