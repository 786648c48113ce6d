//! `worker history`: search past calls, as a table, JSON or CSV; and the
//! search's own timing for `just bench`.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use domain::projection::read::{self, Cursor, HistoryFilter};
use worker::render;

use super::connect;

/// Search past calls by number, extension, queue, disposition and time
/// range, newest first, a page at a time (the next page's cursor is
/// printed last; give it to --after).
#[derive(clap::Args)]
pub struct Args {
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// A number at either end of the call, exactly as stored.
    #[arg(long)]
    number: Option<String>,
    /// An extension (Dialpad: user id) with a leg in the call.
    #[arg(long)]
    extension: Option<String>,
    /// A queue (number, or Dialpad call centre id) the call went through.
    #[arg(long)]
    queue: Option<String>,
    /// The disposition: answered, abandoned, no_answer, busy, failed,
    /// voicemail.
    #[arg(long, value_parser = ["answered", "abandoned", "no_answer", "busy", "failed", "voicemail"])]
    outcome: Option<String>,
    /// Calls that started at or after this time (RFC 3339, or a UTC date
    /// YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Calls that started before this time (RFC 3339, or a UTC date).
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// The page after this cursor (printed at the end of a page).
    #[arg(long, value_parser = parse_cursor)]
    after: Option<Cursor>,
    /// Calls per page.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
    limit: i64,
    /// Every page, one after the other (with --csv: an export).
    #[arg(long)]
    all: bool,
    /// CSV (RFC 4180, with a header) instead of a table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Machine-readable output (a JSON object per page).
    #[arg(long)]
    json: bool,
    /// Run the search this many times and print only how long the query
    /// took (JSON: milliseconds p50, p99, max, and every run's): what
    /// `just bench` measures.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    repeat: Option<u32>,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{s:?} is neither RFC 3339 nor YYYY-MM-DD"))
}

fn parse_cursor(s: &str) -> Result<Cursor, String> {
    s.parse().map_err(|e: read::CursorError| e.to_string())
}

/// Runs the search and prints its pages (or its timings, with --repeat).
pub async fn run(url: &str, args: Args) -> Result<()> {
    let mut conn = connect(url).await?;
    let mut filter = HistoryFilter {
        source: args.source,
        number: args.number,
        extension: args.extension,
        queue: args.queue,
        outcome: args.outcome,
        since: args.since,
        until: args.until,
        after: args.after,
        limit: args.limit,
    };
    if let Some(n) = args.repeat {
        let mut ms = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let t0 = Instant::now();
            read::history(&mut conn, &filter)
                .await
                .context("searching the history")?;
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        let v = serde_json::json!({"runs": n, "p50_ms": at(0.5), "p99_ms": at(0.99),
                                   "max_ms": at(1.0), "ms": ms});
        println!("{v}");
        return Ok(());
    }
    let mut first = true;
    loop {
        let page = read::history(&mut conn, &filter)
            .await
            .context("searching the history")?;
        if args.csv {
            print!("{}", render::history_csv(&page.calls, first));
        } else if args.json {
            println!("{}", serde_json::to_string(&page)?);
        } else {
            print!("{}", render::history(&page.calls));
        }
        first = false;
        match page.next {
            Some(next) if args.all => filter.after = Some(next),
            Some(next) => {
                if !args.csv && !args.json {
                    println!("(more: --after {next})");
                }
                return Ok(());
            }
            None => return Ok(()),
        }
    }
}
