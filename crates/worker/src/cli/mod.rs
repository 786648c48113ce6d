//! The worker's commands, one file each, with the arguments each takes
//! beside the code that runs it. `main.rs` only dispatches.

pub mod audit;
pub mod board;
pub mod deliver;
pub mod endpoint;
pub mod history;
pub mod input;
pub mod migrate;
pub mod missed;
pub mod probe;
pub mod process;
pub mod prune;
pub mod queue;
pub mod replay;
pub mod run;
pub mod source;
pub mod stats;
pub mod token;
pub mod user;
pub mod wait_idle;
pub mod wait_schema;

use anyhow::{bail, Context, Result};
use diesel_async::AsyncPgConnection;
use store::secrets::Keyring;
use telemetry::redact_url;

/// The database URL given (flag, environment or `.env`), or a refusal
/// when the command `needs` one and none was given.
pub fn database_url(given: Option<String>, needs: bool) -> Result<String> {
    match given {
        Some(url) => Ok(url),
        None if !needs => Ok(String::new()),
        None => bail!("DATABASE_URL is not set (flag --database-url, environment, or .env)"),
    }
}

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
