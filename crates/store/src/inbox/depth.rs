//! How much is waiting: the queue's depth and lag, and whether it is
//! drained (the probes and the drain on shutdown).

use diesel::sql_types::{BigInt, Bool, Double};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::Error;

/// How much is waiting.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Depth {
    /// Events pending (retrying ones included, dead ones not).
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    /// Age of the oldest pending event, seconds (0 when none).
    #[diesel(sql_type = Double)]
    pub oldest_age_seconds: f64,
    /// Dead events (kept in the queue until replayed or pruned).
    #[diesel(sql_type = BigInt)]
    pub dead: i64,
}

const DEPTH: &str = concat!(
    "SELECT count(*) FILTER (WHERE ",
    pending!(),
    ") AS pending,
            coalesce(greatest(extract(epoch FROM now() - min(received_at) FILTER (WHERE ",
    pending!(),
    "))::float8, 0), 0) AS oldest_age_seconds,
            count(*) FILTER (WHERE NOT (",
    pending!(),
    ")) AS dead
     FROM event_queue"
);

const DRAINED: &str = concat!(
    "SELECT NOT EXISTS (SELECT 1 FROM event_queue WHERE ",
    pending!(),
    ") AS drained"
);

#[derive(QueryableByName)]
struct Drained {
    #[diesel(sql_type = Bool)]
    drained: bool,
}

/// Counts the pending events. Returns the count and the oldest one's age.
pub async fn depth(conn: &mut AsyncPgConnection) -> Result<Depth, Error> {
    Ok(conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query(DEPTH).get_result(c).await
        })
        .await?)
}

/// Probes the queue (cheap enough to poll during a drain). Returns
/// whether nothing is pending.
pub async fn is_drained(conn: &mut AsyncPgConnection) -> Result<bool, Error> {
    let d: Drained = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query(DRAINED).get_result(c).await
        })
        .await?;
    Ok(d.drained)
}
