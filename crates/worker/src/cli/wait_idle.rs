//! `worker wait-idle`: wait until no event is pending.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use diesel_async::AsyncPgConnection;

use super::connect;

/// Wait until no event is pending (exit 0), or fail after --timeout.
#[derive(clap::Args)]
pub struct Args {
    /// Longest wait, e.g. 30s, 10m.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Waits; fails naming the events still pending after the timeout.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let mut conn = connect(url).await?;
    let pending = until_idle(&mut conn, args.timeout).await?;
    if pending > 0 {
        bail!(
            "still {pending} event(s) pending after {}",
            humantime::format_duration(args.timeout)
        );
    }
    Ok(())
}

/// Polls until nothing is pending or `limit` passes. Returns the events
/// still pending (0 when idle).
pub async fn until_idle(conn: &mut AsyncPgConnection, limit: Duration) -> Result<i64> {
    let deadline = Instant::now() + limit;
    loop {
        if store::inbox::is_drained(conn).await? {
            return Ok(0);
        }
        if Instant::now() > deadline {
            return Ok(store::inbox::depth(conn).await?.pending);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
