//! `worker run`: the service ([`worker::service`]) until SIGTERM/SIGINT;
//! with `--deliver`, the delivery workers too, set by `worker deliver`'s
//! variables.

use anyhow::{Context, Result};
use worker::deliver::DeliverArgs;
use worker::service::{self, RunArgs};

use super::keyring;

/// Runs the worker until SIGTERM/SIGINT.
pub async fn run(url: &str, args: RunArgs) -> Result<()> {
    let deliver = if args.deliver {
        let d: DeliverArgs =
            telemetry::clap_from_env().context("reading the DELIVER_* variables")?;
        Some((d, keyring()?))
    } else {
        None
    };
    service::run(url, &args, deliver, telemetry::shutdown_signal()).await?;
    Ok(())
}
