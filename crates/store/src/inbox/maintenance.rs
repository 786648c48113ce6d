//! Upkeep the worker runs on a timer: creating the coming days' partitions
//! and vacuuming the queue.

use diesel::sql_types::{BigInt, Bool, Integer};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::Error;

#[derive(QueryableByName)]
struct Created {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

const ENSURE_PARTITIONS: &str = concat!(
    "SELECT count(*) AS n FROM switchboard_ensure_partitions(",
    today!(),
    " - 1, ",
    today!(),
    " + $1)"
);

/// Creates the daily partitions from yesterday to `days_ahead` days from
/// today that do not exist yet. Returns how many days it created.
pub async fn ensure_partitions(
    conn: &mut AsyncPgConnection,
    days_ahead: i32,
) -> Result<i64, Error> {
    let c: Created = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query(ENSURE_PARTITIONS)
                .bind::<Integer, _>(days_ahead)
                .get_result(c)
                .await
        })
        .await?;
    Ok(c.n)
}

#[derive(QueryableByName)]
struct QueueHealth {
    #[diesel(sql_type = BigInt)]
    dead_tuples: i64,
    #[diesel(sql_type = Bool)]
    may_vacuum: bool,
}

const QUEUE_HEALTH: &str = "SELECT coalesce(s.n_dead_tup, 0) AS dead_tuples,
            pg_has_role(current_user, c.relowner, 'USAGE') AS may_vacuum
     FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE c.oid = 'event_queue'::regclass";

/// The queue's dead tuples as the statistics last counted them, and
/// whether this connection's role may vacuum it (it owns the table).
pub async fn queue_dead_tuples(conn: &mut AsyncPgConnection) -> Result<(i64, bool), Error> {
    let h: QueueHealth = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query(QUEUE_HEALTH).get_result(c).await
        })
        .await?;
    Ok((h.dead_tuples, h.may_vacuum))
}

/// Vacuums the queue (a table of a few live rows: milliseconds), skipping
/// it when another session is vacuuming it already.
pub async fn vacuum_queue(conn: &mut AsyncPgConnection) -> Result<(), Error> {
    // The simple protocol, outside any transaction (VACUUM cannot run in
    // one), which a pooler in transaction mode passes through as one unit.
    conn.batch_execute("VACUUM (SKIP_LOCKED, TRUNCATE false) event_queue")
        .await?;
    Ok(())
}
