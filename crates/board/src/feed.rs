//! The change feed: a dedicated connection LISTENs on the worker's
//! channel ([`store::changes::CHANNEL`]); each notification names the
//! extensions and calls a committed batch changed. The feed re-reads those
//! rows and hands them to the hub. It loads everything on (re)connect and
//! on a resync notification, so nothing that happened while it was not
//! listening is missed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::projection::read;
use futures_util::{FutureExt, StreamExt};
use store::changes::{self, Payload, CHANNEL};
use store::PgPool;

use crate::hub::Hub;

type Conn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// Notifications read before the changes are re-read at once: under load,
/// several batches' changes are fetched with one pair of queries.
const COALESCE: usize = 256;

/// Why a round of the feed stopped.
#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("connecting: {0}")]
    Connect(#[from] store::Error),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("pool: {0}")]
    Pool(String),
    #[error("the notification connection closed")]
    Closed,
}

/// Runs the feed for the life of the process: LISTEN, load everything,
/// then apply each notification's changes; on any failure, reconnect with
/// backoff (and load everything again).
pub async fn run(url: String, pool: PgPool, hub: Arc<Hub>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let started = std::time::Instant::now();
        let e = match round(&url, &pool, &hub).await {
            Err(e) => e,
            Ok(never) => match never {},
        };
        metrics::counter!("switchboard_board_feed_failures_total").increment(1);
        hub.stale();
        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "change feed interrupted; the board shows what it had");
        if started.elapsed() > Duration::from_secs(30) {
            delay = Duration::from_millis(200);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

enum Never {}

/// One connection's life: returns only on failure.
async fn round(url: &str, pool: &PgPool, hub: &Hub) -> Result<Never, FeedError> {
    let mut listener: AsyncPgConnection = store::connect(url).await?;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut listener)
        .await?;
    // Listening first, then loading: a change committed in between is in
    // the load or in a notification (or both: applying twice is harmless).
    reload(pool, hub).await?;
    tracing::info!(channel = CHANNEL, "change feed listening");
    let mut stream = std::pin::pin!(listener.notifications_stream());
    loop {
        let first = stream.next().await.ok_or(FeedError::Closed)??;
        let mut payloads = vec![first.payload];
        while payloads.len() < COALESCE {
            match stream.next().now_or_never() {
                Some(Some(n)) => payloads.push(n?.payload),
                Some(None) => return Err(FeedError::Closed),
                None => break,
            }
        }
        metrics::counter!("switchboard_board_notifications_total").increment(payloads.len() as u64);
        let mut exts = BTreeSet::new();
        let mut calls = BTreeSet::new();
        let mut resync = false;
        for p in &payloads {
            match changes::decode(p) {
                Ok(Payload::Changes {
                    extensions,
                    calls: c,
                }) => {
                    exts.extend(extensions);
                    calls.extend(c);
                }
                Ok(Payload::Resync) => resync = true,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable change notification; reloading everything");
                    resync = true;
                }
            }
        }
        if resync {
            reload(pool, hub).await?;
        } else {
            apply(pool, hub, exts, calls).await?;
        }
    }
}

async fn conn(pool: &PgPool) -> Result<Conn, FeedError> {
    pool.get().await.map_err(|e| FeedError::Pool(e.to_string()))
}

/// Loads every card and the recent calls into the hub.
async fn reload(pool: &PgPool, hub: &Hub) -> Result<(), FeedError> {
    let mut c = conn(pool).await?;
    let cards = read::cards(&mut c, None).await?;
    let calls = read::recent_calls(&mut c, None, hub_recent(hub)).await?;
    hub.replace(cards, calls);
    Ok(())
}

fn hub_recent(hub: &Hub) -> i64 {
    i64::try_from(hub.recent_limit()).unwrap_or(i64::MAX)
}

/// Re-reads the changed extensions (and those with a leg in a changed
/// call) and the changed calls, and applies them.
async fn apply(
    pool: &PgPool,
    hub: &Hub,
    exts: BTreeSet<(String, String)>,
    calls: BTreeSet<(String, String)>,
) -> Result<(), FeedError> {
    let mut c = conn(pool).await?;
    let calls: Vec<_> = calls.into_iter().collect();
    let mut exts = exts;
    if !calls.is_empty() {
        exts.extend(read::extensions_of_calls(&mut c, &calls).await?);
    }
    let exts: Vec<_> = exts.into_iter().collect();
    let cards = if exts.is_empty() {
        Vec::new()
    } else {
        read::cards(&mut c, Some(&exts)).await?
    };
    let calls = if calls.is_empty() {
        Vec::new()
    } else {
        read::calls(&mut c, &calls).await?
    };
    hub.apply(cards, calls);
    Ok(())
}
