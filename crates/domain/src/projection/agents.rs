//! Agents per queue (`queue_agents`): the batch's agent updates merged in
//! memory, then one merging upsert in key order (no deadlock between
//! concurrent batches), whose guards are [`merge::merge_agent`]'s rule, so
//! any order converges.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{Item, Key};
use crate::event::Effect;
use crate::merge::{self, AgentRow};
use crate::sql::Cached;

/// What [`write`] wrote: `(source, queue)` and `(source, agent)` keys, and
/// each `(source, queue, agent)` row as loaded and as written (events out).
#[derive(Debug, Default)]
pub(super) struct Written {
    pub(super) queues: BTreeSet<Key>,
    pub(super) agents: BTreeSet<Key>,
    pub(super) rows: BTreeMap<(String, String, String), (AgentRow, AgentRow)>,
}

/// Merges and writes the batch's agent updates. Returns their keys.
pub(super) async fn write(
    conn: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<Written, diesel::result::Error> {
    let mut rows: BTreeMap<(String, String, String), AgentRow> = BTreeMap::new();
    let mut written = Written::default();
    for i in items {
        let Effect::Agent(a) = i.effect else {
            continue;
        };
        written
            .agents
            .insert((i.source.to_string(), a.agent.clone()));
        for q in &a.queues {
            if !q.is_empty() {
                written.queues.insert((i.source.to_string(), q.clone()));
            }
            let key = (i.source.to_string(), q.clone(), a.agent.clone());
            merge::merge_agent(rows.entry(key).or_default(), a);
        }
    }
    if rows.is_empty() {
        return Ok(written);
    }
    written.rows = lock(conn, &rows).await?;
    for i in items {
        let Effect::Agent(a) = i.effect else {
            continue;
        };
        for q in &a.queues {
            let key = (i.source.to_string(), q.clone(), a.agent.clone());
            if let Some((_, after)) = written.rows.get_mut(&key) {
                merge::merge_agent(after, a);
            }
        }
    }
    let mut c = Columns::default();
    for ((source, queue, agent), r) in &rows {
        c.source.push(source);
        c.queue.push(queue);
        c.agent.push(agent);
        c.status.push(r.status.as_deref());
        c.reason.push(r.reason.as_deref());
        c.status_seq.push(r.status_seq);
        c.status_at.push(r.status_at);
        c.ring_at.push(r.ring_timeout_at);
        c.ring_call.push(r.ring_timeout_call.as_deref());
        c.ring_seq.push(r.ring_timeout_seq);
    }
    Cached(
        diesel::sql_query(WRITE_AGENTS)
            .bind::<Array<Text>, _>(c.source)
            .bind::<Array<Text>, _>(c.queue)
            .bind::<Array<Text>, _>(c.agent)
            .bind::<Array<Nullable<Text>>, _>(c.status)
            .bind::<Array<Nullable<Text>>, _>(c.reason)
            .bind::<Array<Nullable<BigInt>>, _>(c.status_seq)
            .bind::<Array<Nullable<Timestamptz>>, _>(c.status_at)
            .bind::<Array<Nullable<Timestamptz>>, _>(c.ring_at)
            .bind::<Array<Nullable<Text>>, _>(c.ring_call)
            .bind::<Array<Nullable<BigInt>>, _>(c.ring_seq),
    )
    .execute(conn)
    .await?;
    Ok(written)
}

/// Creates the missing rows of `rows`' keys and locks them all, in key
/// order. Returns each as loaded, twice (before, and to merge into).
async fn lock(
    conn: &mut AsyncPgConnection,
    rows: &BTreeMap<(String, String, String), AgentRow>,
) -> Result<BTreeMap<(String, String, String), (AgentRow, AgentRow)>, diesel::result::Error> {
    let mut keys: (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
    for (s, q, a) in rows.keys() {
        keys.0.push(s);
        keys.1.push(q);
        keys.2.push(a);
    }
    Cached(
        diesel::sql_query(ENSURE_AGENTS)
            .bind::<Array<Text>, _>(&keys.0)
            .bind::<Array<Text>, _>(&keys.1)
            .bind::<Array<Text>, _>(&keys.2),
    )
    .execute(conn)
    .await?;
    let loaded: Vec<AgentDb> = Cached(
        diesel::sql_query(LOCK_AGENTS)
            .bind::<Array<Text>, _>(&keys.0)
            .bind::<Array<Text>, _>(&keys.1)
            .bind::<Array<Text>, _>(&keys.2),
    )
    .load(conn)
    .await?;
    Ok(loaded
        .into_iter()
        .map(|r| {
            let row = AgentRow {
                status: r.status,
                reason: r.reason,
                status_seq: r.status_seq,
                status_at: r.status_at,
                ring_timeout_at: r.ring_timeout_at,
                ring_timeout_call: r.ring_timeout_call,
                ring_timeout_seq: r.ring_timeout_seq,
            };
            ((r.source, r.queue, r.agent), (row.clone(), row))
        })
        .collect())
}

const ENSURE_AGENTS: &str = "INSERT INTO queue_agents (source, queue, agent)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(s, q, a) ORDER BY s, q, a
     ON CONFLICT (source, queue, agent) DO NOTHING";

const LOCK_AGENTS: &str =
    "SELECT x.source, x.queue, x.agent, status, reason, status_seq, status_at,
        ring_timeout_at, ring_timeout_call, ring_timeout_seq
     FROM queue_agents x JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(s, q, a)
       ON x.source = k.s AND x.queue = k.q AND x.agent = k.a
     ORDER BY x.source, x.queue, x.agent
     FOR UPDATE OF x";

/// A `queue_agents` row as loaded.
#[derive(diesel::QueryableByName)]
struct AgentDb {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Text)]
    agent: String,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    status_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    status_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ring_timeout_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    ring_timeout_call: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    ring_timeout_seq: Option<i64>,
}

/// The batch's agent rows as column arrays.
#[derive(Default)]
struct Columns<'a> {
    source: Vec<&'a str>,
    queue: Vec<&'a str>,
    agent: Vec<&'a str>,
    status: Vec<Option<&'a str>>,
    reason: Vec<Option<&'a str>>,
    status_seq: Vec<Option<i64>>,
    status_at: Vec<Option<DateTime<Utc>>>,
    ring_at: Vec<Option<DateTime<Utc>>>,
    ring_call: Vec<Option<&'a str>>,
    ring_seq: Vec<Option<i64>>,
}

// merge::merge_agent's rule in SQL: the status (with its reason) of the
// greater (sequence, status, reason), the ring timeout of the greater
// (sequence, call), text compared byte by byte (COLLATE "C") as Rust does,
// a missing reason or call as ''. Rows sorted by key: locks in one order.
macro_rules! status_wins {
    () => {
        r#"(EXCLUDED.status_seq IS NOT NULL AND (q.status_seq IS NULL OR
            (EXCLUDED.status_seq, EXCLUDED.status COLLATE "C", coalesce(EXCLUDED.reason, '') COLLATE "C")
            > (q.status_seq, coalesce(q.status, '') COLLATE "C", coalesce(q.reason, '') COLLATE "C")))"#
    };
}
macro_rules! ring_wins {
    () => {
        r#"(EXCLUDED.ring_timeout_seq IS NOT NULL AND (q.ring_timeout_seq IS NULL OR
            (EXCLUDED.ring_timeout_seq, coalesce(EXCLUDED.ring_timeout_call, '') COLLATE "C")
            > (q.ring_timeout_seq, coalesce(q.ring_timeout_call, '') COLLATE "C")))"#
    };
}

const WRITE_AGENTS: &str = concat!(
    "INSERT INTO queue_agents AS q (source, queue, agent, status, reason, status_seq,
        status_at, ring_timeout_at, ring_timeout_call, ring_timeout_seq)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::int8[], $7::timestamptz[], $8::timestamptz[], $9::text[],
                          $10::int8[])
     ON CONFLICT (source, queue, agent) DO UPDATE SET
         status = CASE WHEN ",
    status_wins!(),
    " THEN EXCLUDED.status ELSE q.status END,
         reason = CASE WHEN ",
    status_wins!(),
    " THEN EXCLUDED.reason ELSE q.reason END,
         status_at = CASE WHEN ",
    status_wins!(),
    " THEN EXCLUDED.status_at ELSE q.status_at END,
         status_seq = CASE WHEN ",
    status_wins!(),
    " THEN EXCLUDED.status_seq ELSE q.status_seq END,
         ring_timeout_at = CASE WHEN ",
    ring_wins!(),
    " THEN EXCLUDED.ring_timeout_at ELSE q.ring_timeout_at END,
         ring_timeout_call = CASE WHEN ",
    ring_wins!(),
    " THEN EXCLUDED.ring_timeout_call ELSE q.ring_timeout_call END,
         ring_timeout_seq = CASE WHEN ",
    ring_wins!(),
    " THEN EXCLUDED.ring_timeout_seq ELSE q.ring_timeout_seq END,
         updated_at = now()"
);
