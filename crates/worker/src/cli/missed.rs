//! `worker missed`: the missed calls to return, and marking one done.

use anyhow::Result;
use chrono::{DateTime, Utc};
use domain::projection::read;
use worker::render;

use super::connect;

/// The missed calls to return: who called and was never answered.
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// List the numbers to call back, the latest missed first.
    List {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
        /// Machine-readable output (a JSON array).
        #[arg(long)]
        json: bool,
    },
    /// Mark a number done (called back): its missed calls up to now (or
    /// --through) leave the list; audited under the name given with --by.
    Done {
        source: String,
        number: String,
        /// Who did it (kept in the audit, `worker audit --missed`).
        #[arg(long)]
        by: String,
        /// Only the calls missed up to this time (RFC 3339), as listed.
        #[arg(long, value_name = "TIME")]
        through: Option<DateTime<Utc>>,
    },
}

/// Runs the missed calls command `cmd`.
pub async fn run(url: &str, cmd: Cmd) -> Result<()> {
    let conn = &mut connect(url).await?;
    match cmd {
        Cmd::List {
            source,
            limit,
            json,
        } => {
            let rows = read::missed_calls(conn, source.as_deref(), None, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", render::missed(&rows));
            }
        }
        Cmd::Done {
            source,
            number,
            by,
            through,
        } => {
            let d = store::missed::mark_done(conn, &by, &source, &number, through).await?;
            println!(
                "{source} {number}: {} missed call(s) done, {} left",
                d.cleared, d.left
            );
        }
    }
    Ok(())
}
