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

/// What [`write`] wrote: `(source, queue)` and `(source, agent)` keys.
#[derive(Debug, Default)]
pub(super) struct Written {
    pub(super) queues: BTreeSet<Key>,
    pub(super) agents: BTreeSet<Key>,
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
