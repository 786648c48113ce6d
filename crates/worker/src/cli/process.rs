//! `worker process --once`: drain what is pending now, then exit.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use worker::service::RunArgs;
use worker::Worker;

/// Drain what is pending now, then exit.
#[derive(clap::Args)]
pub struct Args {
    /// Required: process once and exit (`worker run` keeps running).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// Processes batches until none is due; prints what they did.
pub async fn run(url: &str, args: Args) -> Result<()> {
    if !args.once {
        bail!("`worker process` needs --once (use `worker run` to keep processing)");
    }
    let pool = store::pool_with(
        url,
        store::PoolConfig {
            deadlines: args.run.config.deadlines(),
            ..store::PoolConfig::new(1, Duration::from_secs(10))
        },
    )
    .context("building the connection pool")?;
    let r = Worker::new(pool, args.run.config)
        .drain()
        .await
        .context("processing")?;
    println!(
        "processed {} event(s): {} applied, {} ignored, {} failed, {} dead",
        r.claimed, r.applied, r.ignored, r.failed, r.dead
    );
    Ok(())
}
