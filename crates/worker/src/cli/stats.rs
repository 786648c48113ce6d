//! `worker stats`: the inbox's statistics, with thresholds for alerts.

use anyhow::Result;
use worker::render;

use super::connect;

/// Inbox statistics: pending by source and type, lag, throughput,
/// retrying and dead events with their latest errors, last event per source.
#[derive(clap::Args)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Exit with status 3 when more events than this are pending.
    #[arg(long)]
    max_pending: Option<i64>,
    /// Exit with status 3 when more events than this are dead.
    #[arg(long)]
    max_dead: Option<i64>,
}

/// Prints the statistics; exits with status 3 when a threshold is exceeded.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let mut conn = connect(url).await?;
    let s = store::inbox::stats(&mut conn).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", render::stats(&s));
    }
    let mut over = Vec::new();
    if let Some(m) = args.max_pending.filter(|m| s.pending > *m) {
        over.push(format!("{} pending > {m}", s.pending));
    }
    if let Some(m) = args.max_dead.filter(|m| s.dead > *m) {
        over.push(format!("{} dead > {m}", s.dead));
    }
    if !over.is_empty() {
        eprintln!("threshold exceeded: {}", over.join(", "));
        std::process::exit(3);
    }
    Ok(())
}
