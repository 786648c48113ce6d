//! `worker prune`: delete processed events older than a cutoff.

use std::time::Duration;

use anyhow::{Context, Result};

use super::connect;

/// Delete processed events received before the (UTC) day of a cutoff,
/// a whole day at a time.
#[derive(clap::Args)]
pub struct Args {
    /// e.g. 30d, 12h.
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: Duration,
    /// Also delete dead events that died before the cutoff.
    #[arg(long)]
    include_dead: bool,
}

/// Prunes; prints what was deleted and kept.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let mut conn = connect(url).await?;
    let p = store::inbox::prune(&mut conn, args.older_than, args.include_dead)
        .await
        .context("pruning")?;
    println!(
        "deleted {} event(s); {} day(s) dropped whole; {} old day(s) kept (pending or dead events)",
        p.deleted, p.partitions, p.kept_days
    );
    Ok(())
}
