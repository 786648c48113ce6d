//! The inbox (`webhook_events`): raw webhooks exactly as received, and every
//! statement on them. Ingest inserts (group commit); the worker claims,
//! completes, retries and buries; operators read stats, prune and replay.
//!
//! An event is *pending* while it is neither processed nor dead; that rule
//! is [`pending!`] and is written nowhere else.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Double, Integer, Jsonb, Nullable, Text, Timestamptz,
};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::sql::Cached;
use domain::Provider;

use crate::sources::{self, SourceActivity};
use crate::Error;

/// The pending predicate: not processed and not dead (due now or later).
macro_rules! pending {
    () => {
        "processed_at IS NULL AND dead_at IS NULL"
    };
}

macro_rules! channel {
    () => {
        "switchboard_inbox"
    };
}

/// The channel ingest NOTIFYs after each insert transaction and workers
/// LISTEN on: a wake-up only, with no payload.
pub const CHANNEL: &str = channel!();

const NOTIFY: &str = concat!("NOTIFY ", channel!());

// ---------------------------------------------------------------- insert --

/// One verified webhook to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: String,
    pub provider: Provider,
    /// What makes a retry of the same event the same row.
    pub dedup_key: String,
    pub body: Vec<u8>,
    pub headers: serde_json::Value,
}

/// Where each inserted event landed, by `(source, dedup_key)`.
pub type EventIds = HashMap<(String, String), i64>;

/// Yeastar sends no event id: an identical body older than the window is a
/// new event, so its old row is retired from deduplication first.
const RETIRE_OLD_DUPLICATES: &str =
    "UPDATE webhook_events w SET dedup_key = w.dedup_key || '@' || w.id
     FROM unnest($1::text[], $2::text[]) AS k(source, dedup_key)
     WHERE w.source = k.source AND w.dedup_key = k.dedup_key
       AND w.received_at < now() - make_interval(secs => $3)";

const INSERT: &str = "INSERT INTO webhook_events (source, provider, body, headers, dedup_key)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[], $5::text[])
     ON CONFLICT (source, dedup_key) DO NOTHING
     RETURNING id, source, dedup_key";

const FIND_EXISTING: &str = "SELECT w.id, w.source, w.dedup_key FROM webhook_events w
     JOIN unnest($1::text[], $2::text[]) AS k(source, dedup_key)
       ON w.source = k.source AND w.dedup_key = k.dedup_key";

#[derive(QueryableByName)]
struct IdKey {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    dedup_key: String,
}

fn by_key(rows: Vec<IdKey>) -> EventIds {
    rows.into_iter()
        .map(|r| ((r.source, r.dedup_key), r.id))
        .collect()
}

/// Stores `events` (distinct by `(source, dedup_key)`) in one transaction
/// and wakes the workers when anything is new. Returns the ids of the rows
/// inserted and of those that were already stored (duplicates).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    events: &[&NewEvent],
    yeastar_dedup_window: Duration,
) -> Result<(EventIds, EventIds), Error> {
    let (inserted, existing) = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            retire_old_duplicates(c, events, yeastar_dedup_window).await?;
            let inserted = insert_new(c, events).await?;
            let existing = find_existing(c, events, &inserted).await?;
            if !inserted.is_empty() {
                // One wake-up per transaction, however many rows it holds;
                // workers treat it as a hint and claim from the table.
                Cached(diesel::sql_query(NOTIFY)).execute(c).await?;
            }
            Ok((inserted, existing))
        })
        .await?;
    Ok((inserted, existing))
}

async fn retire_old_duplicates(
    c: &mut AsyncPgConnection,
    events: &[&NewEvent],
    window: Duration,
) -> Result<(), diesel::result::Error> {
    let (sources, keys): (Vec<&str>, Vec<&str>) = events
        .iter()
        .filter(|e| e.provider == Provider::Yeastar)
        .map(|e| (e.source.as_str(), e.dedup_key.as_str()))
        .unzip();
    if sources.is_empty() {
        return Ok(());
    }
    Cached(
        diesel::sql_query(RETIRE_OLD_DUPLICATES)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&keys)
            .bind::<Double, _>(window.as_secs_f64()),
    )
    .execute(c)
    .await?;
    Ok(())
}

async fn insert_new(
    c: &mut AsyncPgConnection,
    events: &[&NewEvent],
) -> Result<EventIds, diesel::result::Error> {
    let sources: Vec<&str> = events.iter().map(|e| e.source.as_str()).collect();
    let providers: Vec<&str> = events.iter().map(|e| e.provider.as_str()).collect();
    let bodies: Vec<&[u8]> = events.iter().map(|e| e.body.as_slice()).collect();
    let headers: Vec<&serde_json::Value> = events.iter().map(|e| &e.headers).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.dedup_key.as_str()).collect();
    let rows: Vec<IdKey> = Cached(
        diesel::sql_query(INSERT)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&providers)
            .bind::<Array<Bytea>, _>(&bodies)
            .bind::<Array<Jsonb>, _>(&headers)
            .bind::<Array<Text>, _>(&keys),
    )
    .load(c)
    .await?;
    Ok(by_key(rows))
}

async fn find_existing(
    c: &mut AsyncPgConnection,
    events: &[&NewEvent],
    inserted: &EventIds,
) -> Result<EventIds, diesel::result::Error> {
    if inserted.len() >= events.len() {
        return Ok(EventIds::new());
    }
    let (sources, keys): (Vec<&str>, Vec<&str>) = events
        .iter()
        .filter(|e| !inserted.contains_key(&(e.source.clone(), e.dedup_key.clone())))
        .map(|e| (e.source.as_str(), e.dedup_key.as_str()))
        .unzip();
    let rows: Vec<IdKey> = Cached(
        diesel::sql_query(FIND_EXISTING)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&keys),
    )
    .load(c)
    .await?;
    Ok(by_key(rows))
}

// ----------------------------------------------------------------- claim --

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

const CLAIM: &str = concat!(
    "SELECT id, source, provider, body, received_at, attempts FROM webhook_events
     WHERE ",
    pending!(),
    " AND (next_attempt_at IS NULL OR next_attempt_at <= now())
     ORDER BY id LIMIT $1
     FOR UPDATE SKIP LOCKED"
);

const CLAIM_IDS: &str = concat!(
    "SELECT id, source, provider, body, received_at, attempts FROM webhook_events
     WHERE id = ANY($1) AND ",
    pending!(),
    " ORDER BY id
     FOR UPDATE SKIP LOCKED"
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

/// Claims the events `ids` that are still pending (due or not) and not
/// locked by another worker. Returns those claimed.
pub async fn claim_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<Vec<Claimed>, Error> {
    Ok(
        Cached(diesel::sql_query(CLAIM_IDS).bind::<Array<BigInt>, _>(ids))
            .load(conn)
            .await?,
    )
}

// -------------------------------------------------------------- complete --

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

const COMPLETE: &str = "UPDATE webhook_events w SET
         attempts = w.attempts + 1,
         event_type = COALESCE(u.event_type, w.event_type),
         outcome = u.outcome,
         processed_at = CASE WHEN u.outcome IS NOT NULL THEN clock_timestamp() END,
         last_error = COALESCE(u.error, w.last_error),
         next_attempt_at = u.retry_at,
         dead_at = CASE WHEN u.dead THEN now() END
     FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[])
          AS u(id, outcome, event_type, error, retry_at, dead)
     WHERE w.id = u.id";

/// Records the outcomes of claimed events in one statement: processed events
/// get `processed_at`, failed ones `last_error` and their next attempt (or
/// `dead_at`); every one gets `attempts + 1`. Returns the rows updated.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    outcomes: &[(i64, Outcome)],
) -> Result<usize, Error> {
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
        dead.push(o.is_dead());
        match o {
            Outcome::Applied { event_type } | Outcome::Ignored { event_type } => {
                kinds.push(Some(if matches!(o, Outcome::Applied { .. }) {
                    "applied"
                } else {
                    "ignored"
                }));
                types.push(Some(event_type));
                errors.push(None);
                retry.push(None);
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
            }
        }
    }
    Ok(Cached(
        diesel::sql_query(COMPLETE)
            .bind::<Array<BigInt>, _>(ids)
            .bind::<Array<Nullable<Text>>, _>(kinds)
            .bind::<Array<Nullable<Text>>, _>(types)
            .bind::<Array<Nullable<Text>>, _>(errors)
            .bind::<Array<Nullable<Timestamptz>>, _>(retry)
            .bind::<Array<Bool>, _>(dead),
    )
    .execute(conn)
    .await?)
}

// ----------------------------------------------------------------- depth --

/// How much is waiting.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Depth {
    /// Events pending (retrying ones included, dead ones not).
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    /// Age of the oldest pending event, seconds (0 when none).
    #[diesel(sql_type = Double)]
    pub oldest_age_seconds: f64,
}

const DEPTH: &str = concat!(
    "SELECT count(*) AS pending,
            coalesce(greatest(extract(epoch FROM now() - min(received_at))::float8, 0), 0)
              AS oldest_age_seconds
     FROM webhook_events WHERE ",
    pending!()
);

const DRAINED: &str = concat!(
    "SELECT NOT EXISTS (SELECT 1 FROM webhook_events WHERE ",
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
    Ok(diesel::sql_query(DEPTH).get_result(conn).await?)
}

/// Probes the pending index (cheap enough to poll during a drain). Returns
/// whether nothing is pending.
pub async fn is_drained(conn: &mut AsyncPgConnection) -> Result<bool, Error> {
    let d: Drained = diesel::sql_query(DRAINED).get_result(conn).await?;
    Ok(d.drained)
}

// ----------------------------------------------------------------- stats --

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

// Failing rows are served by the partial index on `processed_at IS NULL AND
// last_error IS NOT NULL`; processed counts by the BRIN index on processed_at.
const TOTALS: &str = concat!(
    "SELECT
       (SELECT count(*) FROM webhook_events
         WHERE last_error IS NOT NULL AND ",
    pending!(),
    ") AS retrying,
       (SELECT count(*) FROM webhook_events
         WHERE processed_at IS NULL AND last_error IS NOT NULL AND dead_at IS NOT NULL) AS dead,
       (SELECT count(*) FROM webhook_events WHERE processed_at > now() - interval '1 minute')
         AS processed_last_minute,
       (SELECT count(*) FROM webhook_events WHERE processed_at > now() - interval '1 hour')
         AS processed_last_hour"
);

const PENDING_BY_TYPE: &str = concat!(
    "SELECT source, coalesce(event_type, '(not parsed yet)') AS event_type, count(*) AS count,
            extract(epoch FROM now() - min(received_at))::float8 AS oldest_age_seconds
     FROM webhook_events WHERE ",
    pending!(),
    " GROUP BY 1, 2 ORDER BY count DESC, 1, 2"
);

const RECENT_ERRORS: &str = "SELECT id, source, event_type, attempts, dead_at IS NOT NULL AS dead,
            next_attempt_at, last_error
     FROM webhook_events WHERE processed_at IS NULL AND last_error IS NOT NULL
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

// ----------------------------------------------------------------- prune --

const PRUNE_PROCESSED: &str = "DELETE FROM webhook_events WHERE id IN (
         SELECT id FROM webhook_events WHERE processed_at < now() - make_interval(secs => $1)
         LIMIT $2 FOR UPDATE SKIP LOCKED)";

const PRUNE_DEAD: &str = "DELETE FROM webhook_events WHERE id IN (
         SELECT id FROM webhook_events WHERE dead_at < now() - make_interval(secs => $1)
         LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Deletes events processed more than `older_than` ago (and, with
/// `include_dead`, dead events that died before then) in batches of `batch`
/// rows, each its own short transaction. Returns how many were deleted.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    include_dead: bool,
    batch: i64,
) -> Result<u64, Error> {
    let batch = batch.max(1);
    let mut statements = vec![PRUNE_PROCESSED];
    if include_dead {
        statements.push(PRUNE_DEAD);
    }
    let mut total = 0u64;
    for statement in statements {
        loop {
            let n = diesel::sql_query(statement)
                .bind::<Double, _>(older_than.as_secs_f64())
                .bind::<BigInt, _>(batch)
                .execute(conn)
                .await?;
            total += n as u64;
            if (n as i64) < batch {
                break;
            }
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------- replay --

/// Which dead events [`replay`] re-queues. Empty filters with `all: false`
/// select nothing.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub ids: Vec<i64>,
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub all: bool,
}

impl ReplayFilter {
    /// Whether the filter selects anything at all.
    pub fn is_empty(&self) -> bool {
        !self.all && self.ids.is_empty() && self.source.is_none() && self.event_type.is_none()
    }
}

const REPLAY: &str =
    "UPDATE webhook_events SET dead_at = NULL, next_attempt_at = NULL, attempts = 0
     WHERE dead_at IS NOT NULL
       AND (cardinality($1::int8[]) = 0 OR id = ANY($1))
       AND ($2::text IS NULL OR source = $2)
       AND ($3::text IS NULL OR event_type = $3)";

/// Re-queues the dead events matching `filter`: they become pending again
/// with their attempts reset (their last error is kept for reference).
/// Returns how many were re-queued.
pub async fn replay(conn: &mut AsyncPgConnection, filter: &ReplayFilter) -> Result<usize, Error> {
    if filter.is_empty() {
        return Ok(0);
    }
    Ok(diesel::sql_query(REPLAY)
        .bind::<Array<BigInt>, _>(&filter.ids)
        .bind::<Nullable<Text>, _>(filter.source.as_deref())
        .bind::<Nullable<Text>, _>(filter.event_type.as_deref())
        .execute(conn)
        .await?)
}
