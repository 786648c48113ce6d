//! The inbox: raw webhooks exactly as received (`events`, partitioned by
//! the UTC day of receipt), the queue of work on them (`event_queue`: one
//! narrow row per pending or dead event) and their outcomes
//! (`event_results`: one narrow row per processed event), and every
//! statement on them. Ingest inserts an event and its queue row in one
//! transaction (group commit); the worker claims queue rows, and completes
//! an event by deleting its queue row and inserting its result, never
//! rewriting the event; operators read stats, prune whole days and replay.
//!
//! An event is *pending* while its queue row is not dead; that rule is
//! [`pending!`] and is written nowhere else.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Double, Integer, Jsonb, Nullable, Text, Timestamptz,
};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use domain::sql::Cached;
use domain::Provider;

use crate::sources::{self, SourceActivity};
use crate::Error;

/// The pending predicate on `event_queue`: not dead (due now or later).
/// A processed event has no queue row.
macro_rules! pending {
    () => {
        "dead_at IS NULL"
    };
}

/// Today's UTC day, as stored in `events.day`.
macro_rules! today {
    () => {
        "(now() AT TIME ZONE 'UTC')::date"
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

/// Where each event landed, by source and dedup key; looked up with
/// borrowed strings (no key copied per lookup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventIds {
    by_source: HashMap<String, HashMap<String, i64>>,
}

impl EventIds {
    /// Returns the id stored for `(source, dedup_key)`, if any.
    pub fn get(&self, source: &str, dedup_key: &str) -> Option<i64> {
        self.by_source.get(source)?.get(dedup_key).copied()
    }

    /// Returns whether `(source, dedup_key)` has an id here.
    pub fn contains(&self, source: &str, dedup_key: &str) -> bool {
        self.get(source, dedup_key).is_some()
    }

    /// Returns how many events have an id here.
    pub fn len(&self) -> usize {
        self.by_source.values().map(HashMap::len).sum()
    }

    /// Returns whether no event has an id here.
    pub fn is_empty(&self) -> bool {
        self.by_source.values().all(HashMap::is_empty)
    }

    fn insert(&mut self, source: String, dedup_key: String, id: i64) {
        self.by_source
            .entry(source)
            .or_default()
            .insert(dedup_key, id);
    }

    fn extend(&mut self, other: EventIds) {
        for (source, keys) in other.by_source {
            for (key, id) in keys {
                self.insert(source.clone(), key, id);
            }
        }
    }
}

/// Deduplication is enforced per day by a unique key (PostgreSQL requires
/// the partition key in it); a retry that crosses midnight UTC is caught by
/// looking at the previous day too. Two deliveries racing across midnight
/// could each miss the other's uncommitted row, so within a minute of
/// midnight the insert transactions take turns (one advisory lock): the
/// later one then sees the earlier one's row.
///
/// It also returns the database's UTC day, which the insert then names as
/// a parameter: planned for its value, the insert reaches only today's and
/// yesterday's partitions (an expression of `now()` would be planned over
/// every partition, and generic plans picked a scan of the primary key).
const MIDNIGHT_TURN: &str = concat!(
    "SELECT ",
    today!(),
    " AS today,
            CASE WHEN (now() AT TIME ZONE 'UTC') - ",
    today!(),
    " < interval '1 minute'
                   OR ",
    today!(),
    " + 1 - (now() AT TIME ZONE 'UTC') < interval '1 minute'
                 THEN pg_advisory_xact_lock(6009550036131267922)::text END AS turn"
);

#[derive(QueryableByName)]
struct Today {
    #[diesel(sql_type = diesel::sql_types::Date)]
    today: chrono::NaiveDate,
}

/// Yeastar sends no event id: an identical body older than the window is a
/// new event, so its old row (found by [`FIND_EXISTING`]) is retired from
/// deduplication and the new one stored. Rare, so not on the hot path.
const RETIRE: &str = "UPDATE events SET dedup_key = dedup_key || '@' || id
     WHERE id = ANY($1) AND day BETWEEN $2::date - 1 AND $2::date";

/// Stores the new events and their queue rows; a key already stored today
/// or yesterday is a duplicate.
const INSERT: &str = "WITH new AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[], $5::text[])
         AS u(source, provider, body, headers, dedup_key)
       WHERE NOT EXISTS (SELECT 1 FROM events e
                          WHERE e.source = u.source AND e.dedup_key = u.dedup_key
                            AND e.day BETWEEN $6::date - 1 AND $6::date)),
     stored AS (
       INSERT INTO events (day, source, provider, body, headers, dedup_key)
       SELECT $6::date, source, provider, body, headers, dedup_key FROM new
       ON CONFLICT (source, dedup_key, day) DO NOTHING
       RETURNING id, day, source, dedup_key, received_at),
     queued AS (
       INSERT INTO event_queue (id, day, source, received_at)
       SELECT id, day, source, received_at FROM stored)
     SELECT id, source, dedup_key FROM stored";

/// The stored rows of keys that were not inserted (today's and
/// yesterday's, `$4` being today, like [`INSERT`]), and whether each was
/// received longer than `$3` seconds ago.
const FIND_EXISTING: &str = "SELECT w.id, w.source, w.dedup_key,
            w.received_at < now() - make_interval(secs => $3) AS old
     FROM events w
     JOIN unnest($1::text[], $2::text[]) AS k(source, dedup_key)
       ON w.source = k.source AND w.dedup_key = k.dedup_key
     WHERE w.day BETWEEN $4::date - 1 AND $4::date";

#[derive(QueryableByName)]
struct Existing {
    #[diesel(embed)]
    key: IdKey,
    #[diesel(sql_type = Bool)]
    old: bool,
}

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
    let mut ids = EventIds::default();
    for r in rows {
        ids.insert(r.source, r.dedup_key, r.id);
    }
    ids
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
            let day = Cached(diesel::sql_query(MIDNIGHT_TURN))
                .get_result::<Today>(c)
                .await?
                .today;
            let mut inserted = insert_new(c, events, day).await?;
            // Yeastar rows stored longer ago than the window are retired
            // and their events stored anew; any other stored row makes its
            // event a duplicate.
            let yeastar: HashSet<(&str, &str)> = events
                .iter()
                .filter(|e| e.provider == Provider::Yeastar)
                .map(|e| (e.source.as_str(), e.dedup_key.as_str()))
                .collect();
            let (retire, existing): (Vec<Existing>, Vec<Existing>) =
                find_existing(c, events, &inserted, yeastar_dedup_window, day)
                    .await?
                    .into_iter()
                    .partition(|r| {
                        r.old
                            && yeastar.contains(&(r.key.source.as_str(), r.key.dedup_key.as_str()))
                    });
            if !retire.is_empty() {
                let ids: Vec<i64> = retire.iter().map(|r| r.key.id).collect();
                Cached(
                    diesel::sql_query(RETIRE)
                        .bind::<Array<BigInt>, _>(&ids)
                        .bind::<diesel::sql_types::Date, _>(day),
                )
                .execute(c)
                .await?;
                let again: Vec<&NewEvent> = events
                    .iter()
                    .filter(|e| {
                        retire
                            .iter()
                            .any(|r| r.key.source == e.source && r.key.dedup_key == e.dedup_key)
                    })
                    .copied()
                    .collect();
                inserted.extend(insert_new(c, &again, day).await?);
            }
            let existing = by_key(existing.into_iter().map(|r| r.key).collect());
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

async fn insert_new(
    c: &mut AsyncPgConnection,
    events: &[&NewEvent],
    day: chrono::NaiveDate,
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
            .bind::<Array<Text>, _>(&keys)
            .bind::<diesel::sql_types::Date, _>(day),
    )
    .load(c)
    .await?;
    Ok(by_key(rows))
}

/// The stored rows of the events that were not inserted. Returns them with
/// whether each is older than `window`.
async fn find_existing(
    c: &mut AsyncPgConnection,
    events: &[&NewEvent],
    inserted: &EventIds,
    window: Duration,
    day: chrono::NaiveDate,
) -> Result<Vec<Existing>, diesel::result::Error> {
    if inserted.len() >= events.len() {
        return Ok(Vec::new());
    }
    let (sources, keys): (Vec<&str>, Vec<&str>) = events
        .iter()
        .filter(|e| !inserted.contains(&e.source, &e.dedup_key))
        .map(|e| (e.source.as_str(), e.dedup_key.as_str()))
        .unzip();
    Cached(
        diesel::sql_query(FIND_EXISTING)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&keys)
            .bind::<Double, _>(window.as_secs_f64())
            .bind::<diesel::sql_types::Date, _>(day),
    )
    .load(c)
    .await
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
     FROM event_queue WHERE ",
    pending!()
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

// ----------------------------------------------------------------- prune --

/// What [`prune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Pruned {
    /// Events deleted (processed ones, and dead ones when asked).
    #[diesel(sql_type = BigInt)]
    pub deleted: i64,
    /// Whole days dropped (partitions of events and of their results).
    #[diesel(sql_type = Integer)]
    pub partitions: i32,
    /// Days old enough that were kept: they still hold pending or dead
    /// events.
    #[diesel(sql_type = Integer)]
    pub kept_days: i32,
}

/// Retention: the database's `switchboard_prune` (migrations), in one
/// transaction that waits at most `lock_timeout` for the locks a partition
/// drop needs.
const PRUNE: &str =
    "SELECT deleted, partitions, kept_days FROM switchboard_prune(make_interval(secs => $1), $2)";

/// Deletes the events received before the UTC day of `now - older_than`,
/// a whole day at a time (dropping its partitions, so the cost does not
/// grow with the number of events), with their results; with
/// `include_dead`, also dead events that died before then. Days that still
/// hold pending events, or dead ones not included, are kept. Returns what
/// it did.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    include_dead: bool,
) -> Result<Pruned, Error> {
    let mut attempt = 1;
    loop {
        match prune_once(conn, older_than, include_dead).await {
            Err(e) if attempt < PRUNE_ATTEMPTS && is_lock_timeout(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            done => return Ok(done?),
        }
    }
}

/// Tries of [`prune`] when the lock a partition drop needs is not had
/// within [`PRUNE_LOCK_TIMEOUT`].
const PRUNE_ATTEMPTS: u32 = 25;
/// How long one try waits for that lock. Requests for the inbox queue
/// behind a waiting exclusive lock, so this bounds how long ingest and the
/// workers can wait behind prune.
const PRUNE_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '200ms'";

async fn prune_once(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    include_dead: bool,
) -> Result<Pruned, diesel::result::Error> {
    conn.transaction::<_, diesel::result::Error, _>(async |c| {
        diesel::sql_query(PRUNE_LOCK_TIMEOUT).execute(c).await?;
        diesel::sql_query(PRUNE)
            .bind::<Double, _>(older_than.as_secs_f64())
            .bind::<Bool, _>(include_dead)
            .get_result::<Pruned>(c)
            .await
    })
    .await
}

/// Whether `e` is PostgreSQL's "canceling statement due to lock timeout"
/// (diesel does not pass the SQLSTATE on).
fn is_lock_timeout(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("lock timeout"))
}

// ------------------------------------------------------------ partitions --

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

// ----------------------------------------------------------------- vacuum --

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

const REPLAY: &str = "UPDATE event_queue SET dead_at = NULL, next_attempt_at = NULL, attempts = 0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_found_by_borrowed_keys_and_counted_once() {
        let mut ids = by_key(vec![
            IdKey {
                id: 1,
                source: "pbx".into(),
                dedup_key: "a".into(),
            },
            IdKey {
                id: 2,
                source: "dp".into(),
                dedup_key: "a".into(),
            },
        ]);
        assert_eq!(
            (ids.len(), ids.get("pbx", "a"), ids.get("dp", "a")),
            (2, Some(1), Some(2))
        );
        assert!(!ids.contains("pbx", "b") && !ids.contains("other", "a"));
        let mut more = EventIds::default();
        more.insert("pbx".into(), "a".into(), 3);
        more.insert("pbx".into(), "b".into(), 4);
        ids.extend(more);
        // A key seen again takes the new id and is still one event.
        assert_eq!(
            (ids.len(), ids.get("pbx", "a"), ids.get("pbx", "b")),
            (3, Some(3), Some(4))
        );
        assert!(EventIds::default().is_empty());
    }
}
