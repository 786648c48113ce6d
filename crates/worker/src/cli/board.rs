//! `worker board`: the extension board and the recent calls, as text.

use std::time::Duration;

use anyhow::Result;
use domain::projection::read;
use worker::render;

use super::connect;
use super::wait_idle::until_idle;

/// Print the extension board and the most recent calls.
#[derive(clap::Args)]
pub struct Args {
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// First wait (at most this long) until no event is pending.
    #[arg(long, value_parser = humantime::parse_duration)]
    wait_idle: Option<Duration>,
}

/// Prints the board (after waiting for the inbox to drain, if asked).
pub async fn run(url: &str, args: Args) -> Result<()> {
    let mut conn = connect(url).await?;
    if let Some(limit) = args.wait_idle {
        let pending = until_idle(&mut conn, limit).await?;
        if pending > 0 {
            eprintln!("still {pending} event(s) pending after {limit:?}");
        }
    }
    let source = args.source.as_deref();
    let exts = read::extensions(&mut conn, source).await?;
    let calls = read::recent_calls(&mut conn, source, 5).await?;
    print!("{}", render::board(&exts, &calls));
    Ok(())
}
