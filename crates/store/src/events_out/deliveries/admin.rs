//! What operators ask of deliveries (`worker endpoint resend|recover`, the
//! console): one event sent again, the given-up ones recovered.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Bool, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// What came of a resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resent {
    /// Due now, with a fresh retry period.
    Queued,
    /// Being sent right now: left to its attempt (sending it again beside
    /// that attempt would deliver it twice at once).
    InFlight,
    /// No such endpoint, or no such event (it may have been pruned).
    Unknown,
}

#[derive(QueryableByName)]
struct Outcome {
    #[diesel(sql_type = Bool)]
    queued: bool,
}

// A delivery of its own if the endpoint never had one; left alone while
// leased (in flight).
const RESEND: &str = "INSERT INTO webhook_deliveries (endpoint_id, event_seq, subject)
     SELECT e.id, o.seq, o.subject FROM webhook_endpoints e, outbox o
      WHERE e.name = $1 AND o.event_id = $2
     ON CONFLICT (endpoint_id, event_seq) DO UPDATE SET state = 'pending', next_at = now(),
        created_at = now(), done_at = NULL
      WHERE webhook_deliveries.leased_until IS NULL OR webhook_deliveries.leased_until < now()
        OR webhook_deliveries.state <> 'pending'
     RETURNING true AS queued";

/// Sends event `event_id` to endpoint `endpoint` again (a delivery of its
/// own if the endpoint never had one), due now, with a fresh retry period.
pub async fn resend(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    event_id: &str,
) -> Result<Resent, crate::Error> {
    let done: Vec<Outcome> = diesel::sql_query(RESEND)
        .bind::<Text, _>(endpoint)
        .bind::<Text, _>(event_id)
        .load(conn)
        .await?;
    if done.iter().any(|o| o.queued) {
        return Ok(Resent::Queued);
    }
    let known: Vec<Outcome> = diesel::sql_query(
        "SELECT true AS queued FROM webhook_endpoints e, outbox o
          WHERE e.name = $1 AND o.event_id = $2",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Text, _>(event_id)
    .load(conn)
    .await?;
    Ok(if known.is_empty() {
        Resent::Unknown
    } else {
        Resent::InFlight
    })
}

/// Sends again every delivery to endpoint `endpoint` given up since
/// `since`, due now with a fresh retry period. Returns how many.
pub async fn recover(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    since: DateTime<Utc>,
) -> Result<usize, crate::Error> {
    Ok(diesel::sql_query(
        "UPDATE webhook_deliveries d SET state = 'pending', next_at = now(), created_at = now(),
            done_at = NULL, leased_until = NULL
           FROM webhook_endpoints e
          WHERE e.id = d.endpoint_id AND e.name = $1 AND d.state = 'failed' AND d.done_at >= $2",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Timestamptz, _>(since)
    .execute(conn)
    .await?)
}
