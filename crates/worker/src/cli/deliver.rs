//! `worker deliver`: the delivery workers ([`worker::deliver`]) until
//! SIGTERM/SIGINT.

use anyhow::Result;
use worker::deliver::{self, DeliverArgs};

use super::keyring;

/// Runs the delivery workers until SIGTERM/SIGINT.
pub async fn run(url: &str, args: DeliverArgs) -> Result<()> {
    deliver::run(url, &args, keyring()?, telemetry::shutdown_signal()).await?;
    Ok(())
}
