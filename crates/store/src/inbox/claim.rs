//! Claiming due events for a worker, `FOR UPDATE SKIP LOCKED`.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bytea, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::sql::Cached;

use crate::Error;

/// A claimed event: what the worker needs to parse and apply it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub source: String,
    /// The provider ingest verified it for (`None`: stored before providers
    /// travelled with events, for a source that no longer exists).
    #[diesel(sql_type = Nullable<Text>)]
    pub provider: Option<String>,
    #[diesel(sql_type = Bytea)]
    pub body: Vec<u8>,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    /// Attempts before this one.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// The claimed queue rows joined to their events, one index probe each in
/// the event's own day (LATERAL: never a scan of every partition).
macro_rules! claimed_events {
    () => {
        "SELECT e.id, e.source, e.provider, e.body, e.received_at, c.attempts
         FROM c CROSS JOIN LATERAL (
           SELECT id, source, provider, body, received_at FROM events
           WHERE events.id = c.id AND events.day = c.day) e
         ORDER BY e.id"
    };
}

const CLAIM: &str = concat!(
    "WITH c AS (
       SELECT id, day, attempts FROM event_queue
       WHERE ",
    pending!(),
    " AND (next_attempt_at IS NULL OR next_attempt_at <= now())
       ORDER BY id LIMIT $1
       FOR UPDATE SKIP LOCKED) ",
    claimed_events!()
);

const CLAIM_IDS: &str = concat!(
    "WITH c AS (
       SELECT id, day, attempts FROM event_queue
       WHERE id = ANY($1) AND ",
    pending!(),
    " AND (next_attempt_at IS NULL OR next_attempt_at <= now())
       ORDER BY id
       FOR UPDATE SKIP LOCKED) ",
    claimed_events!()
);

/// Claims up to `limit` pending events that are due, oldest first, locking
/// them with `FOR UPDATE SKIP LOCKED` so that concurrent workers claim
/// disjoint sets. Returns the claimed rows; the locks last until the
/// caller's transaction ends.
pub async fn claim(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Claimed>, Error> {
    Ok(Cached(diesel::sql_query(CLAIM).bind::<BigInt, _>(limit))
        .load(conn)
        .await?)
}

/// Claims the events `ids` that are still pending, due, and not locked by
/// another worker (one that failed meanwhile waits for its next attempt:
/// with several claim loops, the retry of a rolled-back batch must not
/// attempt it a second time). Returns those claimed.
pub async fn claim_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<Vec<Claimed>, Error> {
    Ok(
        Cached(diesel::sql_query(CLAIM_IDS).bind::<Array<BigInt>, _>(ids))
            .load(conn)
            .await?,
    )
}
