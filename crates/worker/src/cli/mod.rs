//! The worker's commands, one file each, with the arguments each takes
//! beside the code that runs it. `main.rs` only dispatches.

pub mod audit;
pub mod board;
pub mod input;
pub mod migrate;
pub mod probe;
pub mod process;
pub mod prune;
pub mod replay;
pub mod run;
pub mod source;
pub mod stats;
pub mod token;
pub mod user;
pub mod wait_idle;
pub mod wait_schema;

use anyhow::{Context, Result};
use diesel_async::AsyncPgConnection;
use store::secrets::Keyring;
use telemetry::redact_url;

/// Opens one connection to `url` (the operator commands need no pool).
pub async fn connect(url: &str) -> Result<AsyncPgConnection> {
    store::connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact_url(url)))
}

/// The secrets key, or a refusal naming the variable.
pub fn keyring() -> Result<Keyring> {
    Keyring::from_env().map_err(|e| anyhow::anyhow!("{e}"))
}
