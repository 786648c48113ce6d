//! The inbox SQL: claiming pending events and recording their outcome.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::db::Cached;
use domain::schema::webhook_events;

/// A claimed inbox row: what the worker needs to parse and apply it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_events)]
pub struct Claimed {
    pub id: i64,
    pub source: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub attempts: i32,
}

/// Claims up to `limit` pending events that are due, oldest first, locking
/// them with `FOR UPDATE SKIP LOCKED` so that concurrent workers claim
/// disjoint sets. Returns the claimed rows; the locks last until the
/// caller's transaction ends.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<Claimed>, diesel::result::Error> {
    use domain::schema::webhook_events::dsl::*;
    webhook_events
        .filter(processed_at.is_null())
        .filter(dead_at.is_null())
        .filter(
            next_attempt_at
                .is_null()
                .or(next_attempt_at.le(diesel::dsl::now)),
        )
        .order(id.asc())
        .limit(limit)
        .select(Claimed::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// Claims the given events if they are still pending and not locked by
/// another worker. Returns those claimed.
pub async fn claim_ids(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> Result<Vec<Claimed>, diesel::result::Error> {
    use domain::schema::webhook_events::dsl::*;
    webhook_events
        .filter(id.eq_any(ids))
        .filter(processed_at.is_null())
        .filter(dead_at.is_null())
        .order(id.asc())
        .select(Claimed::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

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

/// Records the outcomes of a batch in one statement: processed events get
/// `processed_at`, failed ones `last_error` and their next attempt (or
/// `dead_at`); every one gets `attempts + 1`. Returns the rows updated.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    outcomes: &[(i64, Outcome)],
) -> Result<usize, diesel::result::Error> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let n = outcomes.len();
    let mut ids = Vec::with_capacity(n);
    let mut kinds: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut types: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut errors: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut retry: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut dead = Vec::with_capacity(n);
    for (id, o) in outcomes {
        ids.push(*id);
        match o {
            Outcome::Applied { event_type } => {
                kinds.push(Some("applied"));
                types.push(Some(event_type));
                errors.push(None);
                retry.push(None);
                dead.push(false);
            }
            Outcome::Ignored { event_type } => {
                kinds.push(Some("ignored"));
                types.push(Some(event_type));
                errors.push(None);
                retry.push(None);
                dead.push(false);
            }
            Outcome::Failed {
                event_type,
                error,
                retry_at,
            } => {
                kinds.push(None);
                types.push(event_type.as_deref());
                errors.push(Some(error));
                retry.push(*retry_at);
                dead.push(retry_at.is_none());
            }
        }
    }
    Cached(
        diesel::sql_query(
            "UPDATE webhook_events w SET
             attempts = w.attempts + 1,
             event_type = COALESCE(u.event_type, w.event_type),
             outcome = u.outcome,
             processed_at = CASE WHEN u.outcome IS NOT NULL THEN clock_timestamp() END,
             last_error = COALESCE(u.error, w.last_error),
             next_attempt_at = u.retry_at,
             dead_at = CASE WHEN u.dead THEN now() END
         FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[])
              AS u(id, outcome, event_type, error, retry_at, dead)
         WHERE w.id = u.id",
        )
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Array<Nullable<Text>>, _>(kinds)
        .bind::<Array<Nullable<Text>>, _>(types)
        .bind::<Array<Nullable<Text>>, _>(errors)
        .bind::<Array<Nullable<Timestamptz>>, _>(retry)
        .bind::<Array<Bool>, _>(dead),
    )
    .execute(conn)
    .await
}

/// Loads the provider of each named source. Returns `(name, provider)`.
pub async fn providers(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> Result<Vec<(String, String)>, diesel::result::Error> {
    use domain::schema::sources::dsl::*;
    sources
        .filter(name.eq_any(names))
        .select((name, provider))
        .load(conn)
        .await
}
