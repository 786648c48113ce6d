//! Recording the outcomes of claimed events: processed ones leave the
//! queue for `event_results`, failed ones wait for their next attempt or
//! die.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::sql::Cached;

use crate::Error;

/// The outcome of one claimed event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Parsed and applied.
    Applied { event_type: String },
    /// Parsed, deliberately not applied (an event type not used).
    Ignored { event_type: String },
    /// Failed; retried at `retry_at`, or dead when `None`.
    Failed {
        event_type: Option<String>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

impl Outcome {
    /// Whether this outcome buries the event (failed with no retry left).
    pub fn is_dead(&self) -> bool {
        matches!(self, Outcome::Failed { retry_at: None, .. })
    }
}

/// Processed: the queue row goes, the result is stored. The event itself
/// is not touched.
const COMPLETE_PROCESSED: &str = "WITH u AS (
       SELECT * FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(id, outcome, event_type)),
     done AS (
       DELETE FROM event_queue q USING u WHERE q.id = u.id
       RETURNING q.id, q.day, q.attempts, q.last_error, u.outcome, u.event_type)
     INSERT INTO event_results (id, day, processed_at, outcome, event_type, attempts, last_error)
     SELECT id, day, clock_timestamp(), outcome, event_type, attempts + 1, last_error FROM done";

/// Failed: the queue row records the attempt, and its next one or its death.
const COMPLETE_FAILED: &str = "UPDATE event_queue q SET
         attempts = q.attempts + 1,
         event_type = COALESCE(u.event_type, q.event_type),
         last_error = u.error,
         next_attempt_at = u.retry_at,
         dead_at = CASE WHEN u.dead THEN now() END
     FROM unnest($1::int8[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[])
          AS u(id, event_type, error, retry_at, dead)
     WHERE q.id = u.id";

/// Records the outcomes of claimed events, in at most two statements:
/// processed events leave the queue and get a result row (with `attempts +
/// 1`); failed ones keep their queue row with `last_error`, `attempts + 1`
/// and their next attempt (or `dead_at`). Returns the events recorded.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    outcomes: &[(i64, Outcome)],
) -> Result<usize, Error> {
    let mut done_ids = Vec::with_capacity(outcomes.len());
    let mut done_kinds: Vec<&str> = Vec::with_capacity(outcomes.len());
    let mut done_types: Vec<&str> = Vec::with_capacity(outcomes.len());
    let mut failed_ids = Vec::new();
    let mut failed_types: Vec<Option<&str>> = Vec::new();
    let mut errors: Vec<&str> = Vec::new();
    let mut retry: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut dead = Vec::new();
    for (id, o) in outcomes {
        match o {
            Outcome::Applied { event_type } | Outcome::Ignored { event_type } => {
                done_ids.push(*id);
                done_kinds.push(if matches!(o, Outcome::Applied { .. }) {
                    "applied"
                } else {
                    "ignored"
                });
                done_types.push(event_type);
            }
            Outcome::Failed {
                event_type,
                error,
                retry_at,
            } => {
                failed_ids.push(*id);
                failed_types.push(event_type.as_deref());
                errors.push(error);
                retry.push(*retry_at);
                dead.push(o.is_dead());
            }
        }
    }
    let mut n = 0;
    if !done_ids.is_empty() {
        n += Cached(
            diesel::sql_query(COMPLETE_PROCESSED)
                .bind::<Array<BigInt>, _>(done_ids)
                .bind::<Array<Text>, _>(done_kinds)
                .bind::<Array<Text>, _>(done_types),
        )
        .execute(conn)
        .await?;
    }
    if !failed_ids.is_empty() {
        n += Cached(
            diesel::sql_query(COMPLETE_FAILED)
                .bind::<Array<BigInt>, _>(failed_ids)
                .bind::<Array<Nullable<Text>>, _>(failed_types)
                .bind::<Array<Text>, _>(errors)
                .bind::<Array<Nullable<Timestamptz>>, _>(retry)
                .bind::<Array<Bool>, _>(dead),
        )
        .execute(conn)
        .await?;
    }
    Ok(n)
}
