//! `worker stats`: the inbox's statistics, with thresholds for alerts, and
//! whether the database takes writes (naming why not: a full disk, a
//! read-only server, a standby).

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use telemetry::redact_url;
use worker::render;

/// Inbox statistics: pending by source and type, lag, throughput,
/// retrying and dead events with their latest errors, last event per
/// source; and whether the database takes writes (a write that is rolled
/// back: exit status 4 when it does not).
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
    /// Give up (exit status 1, naming the cause) when the database has not
    /// answered everything within this.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Whether the database takes writes, and if not why.
struct Writes {
    refused: Option<store::Error>,
}

/// Prints the statistics; exits with status 3 when a threshold is
/// exceeded, 4 when the database takes no writes.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let (s, writes) = match tokio::time::timeout(args.timeout, gather(url)).await {
        Ok(r) => r?,
        Err(_) => bail!(
            "database unavailable (timeout): {} did not answer within {}",
            redact_url(url),
            humantime::format_duration(args.timeout)
        ),
    };
    let cause = writes
        .refused
        .as_ref()
        .map(|e| e.cause().map_or("other", store::Cause::as_str));
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["database"] = match (&writes.refused, cause) {
            (Some(e), Some(c)) => json!({"writable": false, "cause": c, "error": e.with_sources()}),
            _ => json!({"writable": true}),
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match (&writes.refused, cause) {
            (Some(e), Some(c)) => println!("database: NOT WRITABLE ({c}): {}\n", e.with_sources()),
            _ => println!("database: writable\n"),
        }
        print!("{}", render::stats(&s));
    }
    let mut over = Vec::new();
    if let Some(m) = args.max_pending.filter(|m| s.pending > *m) {
        over.push(format!("{} pending > {m}", s.pending));
    }
    if let Some(m) = args.max_dead.filter(|m| s.dead > *m) {
        over.push(format!("{} dead > {m}", s.dead));
    }
    if let Some(c) = cause {
        eprintln!("the database takes no writes ({c})");
        std::process::exit(4);
    }
    if !over.is_empty() {
        eprintln!("threshold exceeded: {}", over.join(", "));
        std::process::exit(3);
    }
    Ok(())
}

/// Connects, reads the statistics and checks writes. Fails naming the
/// cause when the database cannot be reached or read.
async fn gather(url: &str) -> Result<(store::inbox::Stats, Writes)> {
    let unavailable = |e: store::Error| {
        let cause = e.cause().map_or("other", store::Cause::as_str);
        anyhow!(
            "database unavailable ({cause}): {} at {}",
            e.with_sources(),
            redact_url(url)
        )
    };
    let mut conn: AsyncPgConnection = store::connect(url).await.map_err(unavailable)?;
    let s = store::inbox::stats(&mut conn).await.map_err(unavailable)?;
    let refused = match store::writable(&mut conn).await {
        Ok(()) => store::probe_write(&mut conn).await.err(),
        Err(e) => Some(e),
    };
    // A failure that is not the database's (no TEMP privilege) says
    // nothing about writes.
    let refused = refused.filter(|e| e.is_unavailable());
    Ok((s, Writes { refused }))
}
