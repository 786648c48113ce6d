//! Storing verified webhooks: each event and its queue row in one
//! transaction, deduplicated against today's and yesterday's rows, with one
//! wake-up for the workers.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::sql_types::{Array, BigInt, Bool, Bytea, Double, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::sql::{Cached, CachedAs};
use domain::Provider;

use crate::Error;

/// One verified webhook to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: String,
    pub provider: Provider,
    /// What makes a retry of the same event the same row.
    pub dedup_key: String,
    pub body: Vec<u8>,
    /// The request headers kept with the body: a JSON object's text
    /// (ingest writes it with no JSON value built; stored as `jsonb`).
    pub headers: String,
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

/// The statement-cache names of [`MIDNIGHT_TURN`] and [`INSERT`], the
/// statements of every insert transaction (see [`CachedAs`]).
struct MidnightTurn;
struct Insert;

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
/// or yesterday is a duplicate. Each stored row also wakes the workers
/// (`pg_notify` in the same statement, not a round trip of its own):
/// PostgreSQL delivers one notification per transaction, on commit, however
/// many rows signalled it.
const INSERT: &str = concat!(
    "WITH new AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[])
         AS u(source, provider, body, headers, dedup_key)
       WHERE NOT EXISTS (SELECT 1 FROM events e
                          WHERE e.source = u.source AND e.dedup_key = u.dedup_key
                            AND e.day BETWEEN $6::date - 1 AND $6::date)),
     stored AS (
       INSERT INTO events (day, source, provider, body, headers, dedup_key)
       SELECT $6::date, source, provider, body, headers::jsonb, dedup_key FROM new
       ON CONFLICT (source, dedup_key, day) DO NOTHING
       RETURNING id, day, source, dedup_key, received_at),
     queued AS (
       INSERT INTO event_queue (id, day, source, received_at)
       SELECT id, day, source, received_at FROM stored)
     SELECT id, source, dedup_key, pg_notify('",
    channel!(),
    "', '') FROM stored"
);

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
            let day = CachedAs::<_, MidnightTurn>::new(diesel::sql_query(MIDNIGHT_TURN))
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
    let headers: Vec<&str> = events.iter().map(|e| e.headers.as_str()).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.dedup_key.as_str()).collect();
    let rows: Vec<IdKey> = CachedAs::<_, Insert>::new(
        diesel::sql_query(INSERT)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&providers)
            .bind::<Array<Bytea>, _>(&bodies)
            .bind::<Array<Text>, _>(&headers)
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
