//! The deliveries of one endpoint as the operators' console (board
//! `/console`) lists them: newest first, keyset paged by id, with the
//! event, the attempts, the last status, latency and answer.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

/// The states a delivery can be in.
pub const STATES: [&str; 3] = ["pending", "delivered", "failed"];

/// One delivery.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct DeliveryRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    /// pending, delivered or failed (given up).
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_status: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_latency_ms: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub response_excerpt: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub next_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub done_at: Option<DateTime<Utc>>,
}

/// The deliveries to endpoint `endpoint` (in `state` when given) with ids
/// below `before`, newest first, at most `limit`.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    state: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, crate::Error> {
    Ok(diesel::sql_query(
        "SELECT d.id, o.event_id, o.type AS event_type, d.subject, d.state, d.attempts,
                d.last_status, d.last_error, d.last_latency_ms, d.response_excerpt, d.created_at,
                d.first_attempt_at, d.last_attempt_at, d.next_at, d.done_at
           FROM webhook_deliveries d
           JOIN webhook_endpoints e ON e.id = d.endpoint_id
           JOIN outbox o ON o.seq = d.event_seq
          WHERE e.name = $1
            AND ($2::text IS NULL OR d.state = $2)
            AND ($3::int8 IS NULL OR d.id < $3)
          ORDER BY d.id DESC
          LIMIT $4",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Nullable<Text>, _>(state)
    .bind::<Nullable<BigInt>, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

/// Wakes the delivery workers (after a resend or a recovery).
pub async fn wake(conn: &mut AsyncPgConnection) -> Result<(), crate::Error> {
    diesel::sql_query(format!("NOTIFY {}", super::CHANNEL))
        .execute(conn)
        .await?;
    Ok(())
}
