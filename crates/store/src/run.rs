//! Database operations under a deadline, written once: a connection from
//! the pool and the operation on it must both finish within the limit.
//! An operation that overruns is abandoned and its connection discarded
//! (its transaction, if any, rolls back when the server notices), together
//! with the pool's idle connections: when one connection hangs, the server
//! behind them has most likely vanished (a partition, a failover), and new
//! connections try the URL's hosts again. Every outcome feeds
//! [`crate::health`].

use std::time::Duration;

use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::AsyncPgConnection;
use tokio::time::{timeout_at, Instant};

use crate::{health, Error, PgPool};

/// What an operation does: only reads, or writes (a write that succeeds
/// ends a read-only or disk-full condition; a read does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Runs `op` on a connection of `pool`, all within `limit`; `what` names
/// it in the error. Returns what `op` returned, or
/// [`Error::Deadline`] when the limit passed.
pub async fn run<T, F>(
    pool: &PgPool,
    limit: Duration,
    what: &'static str,
    access: Access,
    op: F,
) -> Result<T, Error>
where
    F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, Error>,
{
    let deadline = Instant::now() + limit;
    let result = async {
        let mut conn = match timeout_at(deadline, pool.get()).await {
            Ok(got) => got?,
            Err(_) => {
                return Err(Error::Deadline {
                    what: "waiting for a database connection",
                    limit,
                })
            }
        };
        match timeout_at(deadline, op(&mut conn)).await {
            Ok(r) => r,
            Err(_) => {
                discard(pool, conn);
                Err(Error::Deadline { what, limit })
            }
        }
    }
    .await;
    record(&result, access);
    result
}

/// Feeds `result` of an operation to [`crate::health`].
pub(crate) fn record<T>(result: &Result<T, Error>, access: Access) {
    match result {
        Ok(_) => health::succeeded(access == Access::Write),
        Err(e) => {
            health::failed(e);
        }
    }
}

/// Drops `conn` instead of returning it to the pool, and the pool's idle
/// connections with it.
pub fn discard(pool: &PgPool, conn: Object<AsyncPgConnection>) {
    drop(Object::take(conn));
    let gone = pool.retain(|_, _| false);
    tracing::warn!(
        idle_dropped = gone.removed.len(),
        "a database connection hung: dropped it and the idle ones; new connections try the hosts again"
    );
}
