//! The claim: per enabled endpoint with room, the due deliveries that head
//! their subject (the earliest pending of that subject to that endpoint),
//! each with the due run of its subject behind it, leased together. A
//! delivery worker sends a run in order on one connection, so that a
//! call's events, made in one batch, go out one after the other without a
//! claim between them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::sql::Cached;

use super::super::endpoints::{sealing_name, SigningSecrets};
use crate::secrets::{CryptoError, Keyring};

/// The shortest lease of a claimed run: past its lease (the worker died),
/// another worker claims it again. A worker stops sending a run before its
/// lease could run out mid-attempt and gives the rest back.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// Most deliveries of one subject leased behind its head in one claim.
const RUN: i64 = 32;

/// A claimed delivery, with its endpoint and event.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The run's head: the id of the first delivery of this run (its own id
    /// for a head).
    #[diesel(sql_type = BigInt)]
    pub head: i64,
    #[diesel(sql_type = BigInt)]
    pub event_seq: i64,
    /// The lease: completions and releases apply only while it holds.
    #[diesel(sql_type = Timestamptz)]
    pub lease: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub endpoint_id: i64,
    #[diesel(sql_type = Text)]
    pub endpoint: String,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Bool)]
    pub allow_private: bool,
    /// Attempts so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    /// The body delivered, as stored.
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Text)]
    key_id: String,
    #[diesel(sql_type = Bytea)]
    nonce: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    ciphertext: Vec<u8>,
    #[diesel(sql_type = Nullable<Text>)]
    previous_key_id: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    previous_nonce: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    previous_ciphertext: Option<Vec<u8>>,
}

impl Claimed {
    /// The endpoint's secrets, opened with `keys`.
    pub fn secrets(&self, keys: &Keyring) -> Result<SigningSecrets, CryptoError> {
        let name = sealing_name(&self.endpoint);
        let current = keys.open(&name, &self.key_id, &self.nonce, &self.ciphertext)?;
        let previous = match (
            &self.previous_key_id,
            &self.previous_nonce,
            &self.previous_ciphertext,
        ) {
            (Some(k), Some(n), Some(c)) => Some(keys.open(&name, k, n, c)?),
            _ => None,
        };
        Ok(SigningSecrets { current, previous })
    }
}

/// A delivery as the outbox's write made it (`outbox::write`): handed
/// over (leased to the writing process, to send on commit) or left for a
/// claim (then only its ids are filled in: no body).
#[derive(Debug, Clone, QueryableByName)]
pub struct Pushed {
    #[diesel(embed)]
    pub delivery: Claimed,
    /// Its subject: the ordering key with its endpoint.
    #[diesel(sql_type = Text)]
    pub subject: String,
    /// Written behind earlier deliveries of its subject to its endpoint,
    /// all leased by the writing process: it goes only after them.
    #[diesel(sql_type = Bool)]
    pub behind: bool,
    /// Handed over (leased to the writing process).
    #[diesel(sql_type = Bool)]
    pub pushed: bool,
}

/// How many more runs each endpoint may have in flight in this worker:
/// `default` for an endpoint not listed.
#[derive(Debug, Clone, Default)]
pub struct Room {
    pub endpoints: Vec<i64>,
    pub room: Vec<i64>,
    pub default: i64,
}

// Heads: per enabled endpoint, up to its room of due deliveries in due
// order (the index (endpoint_id, next_at) of pending ones, read until
// enough are found: a claim never scans the backlog), each the earliest
// pending of its subject to that endpoint (a min() only the order index
// serves: "pending" is spelt as its predicate, `state <> 'delivered' AND
// state <> 'failed'`, which the due index cannot answer, whatever the
// statistics say); at most $1 in all, locked
// with SKIP LOCKED. Runs: behind each head, the pending deliveries of its
// subject in order, as long as each is due and not leased (the first that
// is not ends the run: order). No other claim can take those: none of them
// heads its subject while the head is pending. The claim changes no
// indexed column (a HOT update where the page has room: setting next_at to
// the lease's end made every claimed row a new entry in five indexes, 130
// us a delivery); claims skip leased heads by the lease before the order
// check. $2/$3: endpoints and their
// room; $4: the room of the others; $5: the lease in ms; $6: the longest
// run; $7: whether failing endpoints (last attempt failed) are claimed too:
// their deliveries wait for retries, and reading them on every claim made
// every healthy endpoint's deliveries wait behind those reads.
const CLAIM: &str = "WITH h AS (
        SELECT x.id, x.endpoint_id, x.subject, x.event_seq FROM webhook_endpoints e
         CROSS JOIN LATERAL (
           SELECT d.id, d.endpoint_id, d.subject, d.event_seq FROM webhook_deliveries d
            WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.next_at <= now()
              AND (d.leased_until IS NULL OR d.leased_until < now())
              AND d.event_seq = (SELECT min(p.event_seq) FROM webhook_deliveries p
                                  WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject
                                    AND p.state <> 'delivered' AND p.state <> 'failed')
            ORDER BY d.next_at
            LIMIT CASE WHEN e.failing_since IS NOT NULL AND NOT $7 THEN 0
                       ELSE coalesce((SELECT r.room FROM unnest($2::int8[], $3::int8[]) r(id, room)
                                       WHERE r.id = e.id), $4) END
            FOR UPDATE OF d SKIP LOCKED) x
         WHERE e.enabled
         LIMIT $1),
      r AS (
        SELECT h.id AS head, h.id FROM h
        UNION ALL
        SELECT h.id, s.id FROM h CROSS JOIN LATERAL (
          SELECT t.id FROM (
            SELECT s.id, bool_and(s.next_at <= now()
                                  AND (s.leased_until IS NULL OR s.leased_until < now()))
                           OVER (ORDER BY s.event_seq) AS free
              FROM webhook_deliveries s
             WHERE s.endpoint_id = h.endpoint_id AND s.subject = h.subject
               AND s.state <> 'delivered' AND s.state <> 'failed' AND s.event_seq > h.event_seq
             ORDER BY s.event_seq
             LIMIT $6) t
           WHERE t.free) s)
     UPDATE webhook_deliveries d
        SET leased_until = now() + $5 * interval '1 ms', attempts = d.attempts + 1, lessee = NULL
       FROM r, webhook_endpoints e, outbox o
      WHERE d.id = r.id AND e.id = d.endpoint_id AND o.seq = d.event_seq
     RETURNING d.id, r.head, d.event_seq, d.leased_until AS lease, d.endpoint_id,
            e.name AS endpoint, e.url, e.allow_private, d.attempts, d.created_at, o.event_id,
            o.type AS event_type, o.payload::text AS body, e.key_id, e.nonce, e.ciphertext,
            CASE WHEN e.previous_until > now() THEN e.previous_key_id END AS previous_key_id,
            CASE WHEN e.previous_until > now() THEN e.previous_nonce END AS previous_nonce,
            CASE WHEN e.previous_until > now() THEN e.previous_ciphertext END
              AS previous_ciphertext";

// The claim's plan must walk the due index in order and stop: statistics
// that are off (a backlog grown since the last ANALYZE, or one the
// planner thinks tiny) made it read every due delivery of an endpoint in a
// bitmap scan and sort them (137 ms against 1.6 ms walking the index, over
// 19,000 pending deliveries of a failing endpoint). So this transaction
// plans without bitmap scans and sorts, and commits without waiting for the
// WAL flush (a lost claim only lets its lease run out), and without JIT
// (sessions have it off; behind a transaction pooler they do not).
const CLAIM_SETTINGS: &str = "SELECT set_config('enable_bitmapscan', 'off', true),
        set_config('enable_sort', 'off', true), set_config('synchronous_commit', 'off', true),
        set_config('jit', 'off', true)";

/// Claims up to `heads` runs: due deliveries heading their subject, as many
/// of each endpoint as `room` leaves, each followed by the due run of its
/// subject; all leased for `lease` (at least [`CLAIM_LEASE`]); endpoints
/// whose last attempt failed only when `with_failing`. Returned in (head,
/// seq) order.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    heads: i64,
    room: &Room,
    lease: Duration,
    with_failing: bool,
) -> Result<Vec<Claimed>, crate::Error> {
    use diesel_async::AsyncConnection;
    let mut rows: Vec<Claimed> = conn
        .transaction::<_, crate::Error, _>(async |conn| {
            Cached(diesel::sql_query(CLAIM_SETTINGS))
                .execute(conn)
                .await?;
            Ok(Cached(
                diesel::sql_query(CLAIM)
                    .bind::<BigInt, _>(heads)
                    .bind::<Array<BigInt>, _>(&room.endpoints)
                    .bind::<Array<BigInt>, _>(&room.room)
                    .bind::<BigInt, _>(room.default)
                    .bind::<BigInt, _>(lease.max(CLAIM_LEASE).as_millis() as i64)
                    .bind::<BigInt, _>(RUN)
                    .bind::<Bool, _>(with_failing),
            )
            .load(conn)
            .await?)
        })
        .await?;
    rows.sort_by_key(|c| (c.head, c.event_seq));
    Ok(rows)
}
