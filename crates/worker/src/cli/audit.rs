//! `worker audit`: the actions operators took on calls from the board, and
//! the missed calls they marked done, and what they did in the console.

use anyhow::Result;
use worker::render;

use super::connect;

/// List the actions operators took on calls from the board (hang-ups),
/// newest first: who, when, which call and leg, the outcome and the
/// phone system's answer; with --missed, the missed calls they marked done;
/// with --console, the replays, resends and recoveries asked for in the
/// board's console.
#[derive(clap::Args)]
pub struct Args {
    /// How many (newest first).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    limit: i64,
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Machine-readable output (a JSON array).
    #[arg(long)]
    json: bool,
    /// The missed calls marked done instead (who, when, which number, how
    /// many calls).
    #[arg(long, conflicts_with = "console")]
    missed: bool,
    /// What operators did in the board's console instead (replays of dead
    /// events, resends and recoveries of deliveries; not by source).
    #[arg(long, conflicts_with = "source")]
    console: bool,
}

/// Prints the audit, as a table or JSON.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let mut conn = connect(url).await?;
    if args.console {
        let rows = store::console::audit(&mut conn, args.limit).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print!("{}", render::console_audit(&rows));
        }
        return Ok(());
    }
    if args.missed {
        let rows = store::missed::audit(&mut conn, args.source.as_deref(), args.limit).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print!("{}", render::missed_audit(&rows));
        }
        return Ok(());
    }
    let rows = store::apis::audit(&mut conn, args.source.as_deref(), args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", render::audit(&rows));
    }
    Ok(())
}
