//! The operators' console (board `/console`): searching the inbox and
//! reading one event with its processing state, from the three tables
//! (`events`, `event_queue`, `event_results`) the way the `webhook_events`
//! view joins them.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bytea, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::Error;

/// What became of an event, as the console shows and searches it.
pub const OUTCOMES: [&str; 5] = ["applied", "ignored", "failed", "dead", "pending"];

/// A search of the inbox: every field narrows it; newest first, keyset
/// paged by id (`before`: the last id of the previous page).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source: Option<String>,
    pub event_type: Option<String>,
    /// Matched in the body as received (JSON bodies; the payload of a
    /// Dialpad JWT is not searched).
    pub call_id: Option<String>,
    /// One of [`OUTCOMES`].
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// One event of a search.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub processed_at: Option<DateTime<Utc>>,
    /// applied, ignored (processed); failed (retrying), dead, pending.
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// One event in full: the row, its body and kept headers, and its queue
/// state.
#[derive(Debug, Clone, QueryableByName)]
pub struct EventDetail {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub processed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Bytea)]
    pub body: Vec<u8>,
    #[diesel(sql_type = Jsonb)]
    pub headers: serde_json::Value,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub dead_at: Option<DateTime<Utc>>,
}

impl EventDetail {
    /// The event as a search lists it.
    pub fn row(&self) -> EventRow {
        EventRow {
            id: self.id,
            source: self.source.clone(),
            provider: self.provider.clone(),
            event_type: self.event_type.clone(),
            received_at: self.received_at,
            processed_at: self.processed_at,
            outcome: self.outcome.clone(),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
        }
    }
}

/// The events with their state, one row each.
const JOINED: &str = "SELECT e.id, e.day, e.source, e.provider, e.body, e.headers, e.received_at,
            coalesce(r.event_type, q.event_type) AS event_type, r.processed_at,
            CASE WHEN r.id IS NOT NULL THEN r.outcome
                 WHEN q.dead_at IS NOT NULL THEN 'dead'
                 WHEN q.last_error IS NOT NULL THEN 'failed'
                 ELSE 'pending' END AS outcome,
            coalesce(r.attempts, q.attempts, 0) AS attempts,
            coalesce(q.last_error, r.last_error) AS last_error,
            q.next_attempt_at, q.dead_at
       FROM events e
       LEFT JOIN event_queue q ON q.id = e.id
       LEFT JOIN event_results r ON r.id = e.id AND r.day = e.day";

/// Searches the inbox (see [`EventFilter`]); the days of the time range
/// bound the partitions read.
pub async fn search(conn: &mut AsyncPgConnection, f: &EventFilter) -> Result<Vec<EventRow>, Error> {
    let sql = format!(
        "SELECT id, source, provider, event_type, received_at, processed_at, outcome, attempts,
                last_error
           FROM ({JOINED}) x
          WHERE ($1::text IS NULL OR source = $1)
            AND ($2::text IS NULL OR event_type = $2)
            AND ($3::text IS NULL OR position(convert_to($3, 'UTF8') IN body) > 0)
            AND ($4::text IS NULL OR outcome = $4)
            AND ($5::timestamptz IS NULL OR (received_at >= $5
                 AND day >= ($5::timestamptz AT TIME ZONE 'UTC')::date))
            AND ($6::timestamptz IS NULL OR (received_at < $6
                 AND day <= ($6::timestamptz AT TIME ZONE 'UTC')::date))
            AND ($7::int8 IS NULL OR id < $7)
          ORDER BY id DESC
          LIMIT $8"
    );
    Ok(diesel::sql_query(sql)
        .bind::<Nullable<Text>, _>(f.source.as_deref())
        .bind::<Nullable<Text>, _>(f.event_type.as_deref())
        .bind::<Nullable<Text>, _>(f.call_id.as_deref())
        .bind::<Nullable<Text>, _>(f.outcome.as_deref())
        .bind::<Nullable<Timestamptz>, _>(f.since)
        .bind::<Nullable<Timestamptz>, _>(f.until)
        .bind::<Nullable<BigInt>, _>(f.before)
        .bind::<BigInt, _>(f.limit)
        .load(conn)
        .await?)
}

/// Event `id` in full, if it is stored.
pub async fn event(conn: &mut AsyncPgConnection, id: i64) -> Result<Option<EventDetail>, Error> {
    let sql = format!("{JOINED} WHERE e.id = $1");
    let mut rows: Vec<EventDetail> = diesel::sql_query(sql)
        .bind::<BigInt, _>(id)
        .load(conn)
        .await?;
    Ok(rows.pop())
}

/// Wakes the workers (after a replay): they claim at once rather than at
/// their next poll.
pub async fn wake(conn: &mut AsyncPgConnection) -> Result<(), Error> {
    diesel::sql_query(concat!("NOTIFY ", channel!()))
        .execute(conn)
        .await?;
    Ok(())
}
