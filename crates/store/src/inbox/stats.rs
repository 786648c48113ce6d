//! What `worker stats` shows: depth, throughput, failures, pending events
//! by type and the sources' activity.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::depth;
use crate::sources::{self, SourceActivity};
use crate::Error;

/// Pending events of one source and type.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct PendingGroup {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    #[diesel(sql_type = Double)]
    pub oldest_age_seconds: f64,
}

/// A failing (retrying or dead) event.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct FailingEvent {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Bool)]
    pub dead: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    pub last_error: String,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    retrying: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
    #[diesel(sql_type = BigInt)]
    processed_last_minute: i64,
    #[diesel(sql_type = BigInt)]
    processed_last_hour: i64,
}

/// Everything `worker stats` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// Events waiting to be processed (retrying ones included, dead ones not).
    pub pending: i64,
    /// Age of the oldest pending event, seconds (0 when none).
    pub lag_seconds: f64,
    pub processed_last_minute: i64,
    pub processed_last_hour: i64,
    /// Failed at least once, to be retried.
    pub retrying: i64,
    /// Failed `max-attempts` times: kept, not retried until replayed.
    pub dead: i64,
    pub pending_by_type: Vec<PendingGroup>,
    pub recent_errors: Vec<FailingEvent>,
    pub sources: Vec<SourceActivity>,
}

// The queue is small (pending and dead events only); processed counts are
// served by the BRIN index on event_results.processed_at in the last two
// days' partitions.
const TOTALS: &str = concat!(
    "SELECT
       (SELECT count(*) FROM event_queue
         WHERE last_error IS NOT NULL AND ",
    pending!(),
    ") AS retrying,
       (SELECT count(*) FROM event_queue WHERE dead_at IS NOT NULL) AS dead,
       (SELECT count(*) FROM event_results
         WHERE day >= ",
    today!(),
    " - 1 AND processed_at > now() - interval '1 minute') AS processed_last_minute,
       (SELECT count(*) FROM event_results
         WHERE day >= ",
    today!(),
    " - 1 AND processed_at > now() - interval '1 hour') AS processed_last_hour"
);

const PENDING_BY_TYPE: &str = concat!(
    "SELECT source, coalesce(event_type, '(not parsed yet)') AS event_type, count(*) AS count,
            extract(epoch FROM now() - min(received_at))::float8 AS oldest_age_seconds
     FROM event_queue WHERE ",
    pending!(),
    " GROUP BY 1, 2 ORDER BY count DESC, 1, 2"
);

const RECENT_ERRORS: &str = "SELECT id, source, event_type, attempts, dead_at IS NOT NULL AS dead,
            next_attempt_at, last_error
     FROM event_queue WHERE last_error IS NOT NULL
     ORDER BY id DESC LIMIT 5";

/// Gathers the inbox statistics. Returns them for display or JSON.
pub async fn stats(conn: &mut AsyncPgConnection) -> Result<Stats, Error> {
    let d = depth(conn).await?;
    let t: Totals = diesel::sql_query(TOTALS).get_result(conn).await?;
    let pending_by_type = diesel::sql_query(PENDING_BY_TYPE).load(conn).await?;
    let recent_errors = diesel::sql_query(RECENT_ERRORS).load(conn).await?;
    let sources = sources::activity(conn).await?;
    Ok(Stats {
        pending: d.pending,
        lag_seconds: d.oldest_age_seconds,
        processed_last_minute: t.processed_last_minute,
        processed_last_hour: t.processed_last_hour,
        retrying: t.retrying,
        dead: t.dead,
        pending_by_type,
        recent_errors,
        sources,
    })
}
