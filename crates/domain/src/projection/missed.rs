//! The missed calls to return (`missed_calls`): each entry recomputed from
//! `calls` by the rule of [`crate::merge::missed_entries`], under the
//! entry's row lock, after the batch's calls are written.
//!
//! Why this converges: every transaction that changes how a call counts for
//! a number locks that number's entry after writing the call, and reads
//! `calls` with a statement that starts once it holds the lock, so the last
//! one to lock an entry sees every call of that number committed before,
//! plus its own. The board's "done" ([`refresh`] after moving
//! `done_through`) takes the same lock.

use std::collections::BTreeSet;

use diesel::sql_types::{Array, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{ensure_locked, unzip, Key};
use crate::sql::Cached;

/// A locked entry (only its key is read).
#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    source: String,
}

const ENSURE_MISSED: &str = "INSERT INTO missed_calls (source, number)
     SELECT s, n FROM unnest($1::text[], $2::text[]) AS k(s, n) ORDER BY s, n
     ON CONFLICT (source, number) DO NOTHING";

const LOCK_MISSED: &str = "SELECT m.source FROM missed_calls m
       JOIN unnest($1::text[], $2::text[]) AS k(s, n) ON m.source = k.s AND m.number = k.n
     ORDER BY m.source, m.number
     FOR UPDATE OF m";

// merge::missed_entries in SQL, for the locked keys: the latest answered
// call with the number (inbound from it or outbound to it), then the
// inbound calls from it nobody answered that started after that and after
// done_through; the latest by (start, call id byte by byte).
//
// Each scan of `calls` has the number as its only condition (the rest are
// aggregate filters), so that whatever the statistics say (a fresh table,
// a plan cached when it was small) the only index the planner can use is
// the number's (calls_by_from, calls_by_to): a number has few calls, while
// a source or an outcome has nearly all of them.
const REFRESH: &str = r#"WITH k AS (
        SELECT m.id, m.source, m.number, m.done_through,
               greatest(
                 (SELECT max(c.started_at) FILTER (WHERE c.source = m.source
                         AND c.direction = 'inbound' AND c.outcome = 'answered')
                    FROM calls c WHERE c.from_number = m.number),
                 (SELECT max(c.started_at) FILTER (WHERE c.source = m.source
                         AND c.direction = 'outbound' AND c.outcome = 'answered')
                    FROM calls c WHERE c.to_number = m.number)) AS answered_at
          FROM missed_calls m
          JOIN unnest($1::text[], $2::text[]) AS u(s, n) ON m.source = u.s AND m.number = u.n),
      x AS (
        SELECT k.id, k.answered_at, s.*
          FROM k CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE w.missed)::int AS n,
                   min(c.started_at) FILTER (WHERE w.missed) AS first_at,
                   max(c.started_at) FILTER (WHERE w.missed) AS last_at,
                   (array_agg(c.call_id ORDER BY c.started_at DESC, c.call_id COLLATE "C" DESC)
                       FILTER (WHERE w.missed))[1] AS last_call_id,
                   (array_agg(c.outcome ORDER BY c.started_at DESC, c.call_id COLLATE "C" DESC)
                       FILTER (WHERE w.missed))[1] AS last_reason
              FROM calls c
             CROSS JOIN LATERAL (SELECT c.source = k.source AND c.direction = 'inbound'
                    AND c.started_at IS NOT NULL
                    AND c.outcome IN ('abandoned', 'no_answer', 'busy', 'failed', 'voicemail')
                    AND c.started_at > coalesce(greatest(k.answered_at, k.done_through),
                                                '-infinity') AS missed) w
             WHERE c.from_number = k.number
          ) s)
     UPDATE missed_calls m SET missed_count = x.n, first_at = x.first_at, last_at = x.last_at,
            last_call_id = x.last_call_id, last_reason = x.last_reason,
            answered_at = x.answered_at, updated_at = now()
       FROM x WHERE m.id = x.id"#;

/// Recomputes the missed call entries `keys` (`(source, number)`), creating
/// the missing ones, under their row locks (taken in key order). Must run
/// inside a transaction, after the calls it follows are written.
pub async fn refresh(
    conn: &mut AsyncPgConnection,
    keys: &BTreeSet<Key>,
) -> Result<(), diesel::result::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let (sources, numbers) = unzip(keys);
    let _: Vec<Locked> =
        ensure_locked(conn, (&sources, &numbers), ENSURE_MISSED, LOCK_MISSED).await?;
    recount(conn, &sources, &numbers).await
}

/// Recomputes the existing entries of `sources[i]`, `numbers[i]`, whose
/// row locks the caller holds (the board, marking one done, takes it with
/// `SELECT ... FOR UPDATE`).
pub async fn recount(
    conn: &mut AsyncPgConnection,
    sources: &[String],
    numbers: &[String],
) -> Result<(), diesel::result::Error> {
    Cached(
        diesel::sql_query(REFRESH)
            .bind::<Array<Text>, _>(sources)
            .bind::<Array<Text>, _>(numbers),
    )
    .execute(conn)
    .await?;
    Ok(())
}
