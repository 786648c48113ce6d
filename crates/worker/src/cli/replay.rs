//! `worker replay`: re-queue dead events.

use anyhow::{bail, Result};
use store::inbox::ReplayFilter;

use super::connect;

/// Re-queue dead events (by id, source, event type, or all of them).
#[derive(clap::Args)]
pub struct Args {
    /// Event id; repeat for several.
    #[arg(long = "id")]
    ids: Vec<i64>,
    #[arg(long)]
    source: Option<String>,
    #[arg(long)]
    event_type: Option<String>,
    /// Every dead event.
    #[arg(long, conflicts_with_all = ["ids", "source", "event_type"])]
    all: bool,
}

/// Re-queues the dead events chosen; prints how many.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let filter = ReplayFilter {
        ids: args.ids,
        source: args.source,
        event_type: args.event_type,
        all: args.all,
    };
    if filter.is_empty() {
        bail!("say which dead events to replay: --id N, --source S, --event-type T, or --all");
    }
    let mut conn = connect(url).await?;
    let n = store::inbox::replay(&mut conn, &filter).await?;
    println!("re-queued {n} dead event(s)");
    Ok(())
}
