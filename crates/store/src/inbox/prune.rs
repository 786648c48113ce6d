//! Retention: deleting old events a whole day at a time, with a bounded
//! wait for the locks a partition drop needs.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Double, Integer};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::Error;

/// What [`prune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Pruned {
    /// Events deleted (processed ones, and dead ones when asked).
    #[diesel(sql_type = BigInt)]
    pub deleted: i64,
    /// Whole days dropped (partitions of events and of their results).
    #[diesel(sql_type = Integer)]
    pub partitions: i32,
    /// Days old enough that were kept: they still hold pending or dead
    /// events.
    #[diesel(sql_type = Integer)]
    pub kept_days: i32,
}

/// Retention: the database's `switchboard_prune` (migrations), in one
/// transaction that waits at most `lock_timeout` for the locks a partition
/// drop needs.
const PRUNE: &str =
    "SELECT deleted, partitions, kept_days FROM switchboard_prune(make_interval(secs => $1), $2)";

/// Deletes the events received before the UTC day of `now - older_than`,
/// a whole day at a time (dropping its partitions, so the cost does not
/// grow with the number of events), with their results; with
/// `include_dead`, also dead events that died before then. Days that still
/// hold pending events, or dead ones not included, are kept. Returns what
/// it did.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    include_dead: bool,
) -> Result<Pruned, Error> {
    let mut attempt = 1;
    loop {
        match prune_once(conn, older_than, include_dead).await {
            Err(e) if attempt < PRUNE_ATTEMPTS && is_lock_timeout(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            done => return Ok(done?),
        }
    }
}

/// Tries of [`prune`] when the lock a partition drop needs is not had
/// within [`PRUNE_LOCK_TIMEOUT`].
const PRUNE_ATTEMPTS: u32 = 25;
/// How long one try waits for that lock. Requests for the inbox queue
/// behind a waiting exclusive lock, so this bounds how long ingest and the
/// workers can wait behind prune.
const PRUNE_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '200ms'";

async fn prune_once(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    include_dead: bool,
) -> Result<Pruned, diesel::result::Error> {
    conn.transaction::<_, diesel::result::Error, _>(async |c| {
        diesel::sql_query(PRUNE_LOCK_TIMEOUT).execute(c).await?;
        diesel::sql_query(PRUNE)
            .bind::<Double, _>(older_than.as_secs_f64())
            .bind::<Bool, _>(include_dead)
            .get_result::<Pruned>(c)
            .await
    })
    .await
}

/// Whether `e` is PostgreSQL's "canceling statement due to lock timeout"
/// (diesel does not pass the SQLSTATE on).
fn is_lock_timeout(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("lock timeout"))
}
