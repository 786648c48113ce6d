//! `worker run`: the service ([`worker::service`]) until SIGTERM/SIGINT.

use anyhow::Result;
use worker::service::{self, RunArgs};

/// Runs the worker until SIGTERM/SIGINT.
pub async fn run(url: &str, args: RunArgs) -> Result<()> {
    service::run(url, &args, telemetry::shutdown_signal()).await?;
    Ok(())
}
