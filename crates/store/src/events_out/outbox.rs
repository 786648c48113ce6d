//! The outbox: normalized events written in the transaction that applies a
//! batch, each fanned out at once to a delivery per matching endpoint; and
//! the stream's read of committed events in order, and of where they end.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::outbound::OutEvent;
use domain::sql::Cached;

use super::deliveries::Pushed;
use crate::Error;

/// The channel a batch that wrote deliveries NOTIFYs (on commit): the
/// delivery workers listen to it.
pub const CHANNEL: &str = "switchboard_deliveries";
/// The channel a batch that wrote events NOTIFYs (on commit), whether or
/// not an endpoint wanted them: the board's stream listens to it.
pub const EVENTS_CHANNEL: &str = "switchboard_events";

// Each event gets its id (evt_ and 32 hex digits of a random UUID) and its
// source's provider here; the ordinality keeps the batch's order, so that
// the events of one subject get increasing seqs. Then one delivery per
// enabled endpoint whose source and type patterns match ('call.*' matches
// every call event; no pattern: every type). A delivery behind an earlier
// one of its subject waiting for a retry is due no sooner than that retry
// (claims never wade through deliveries that cannot go; a retry that fails
// again pushes them further). Behind one in flight it is due now: it
// becomes its subject's head when that one is done.
//
// Handed over ($7: the writing process's lessee; $8: the lease in ms): a
// delivery to an endpoint that is not failing, whose subject's earlier
// pending deliveries to it (if any) are all leased by this process, is
// written leased to it (its first attempt counted, as a claim counts it):
// the process sends it on commit, after those, without a claim. `behind`:
// it had such earlier ones (the process sends it only behind them, or
// gives it back). The rest wait for a claim. Every delivery is returned,
// the handed-over ones with their body and endpoint.
const WRITE: &str = r#"WITH u AS (
        SELECT u.*, 'evt_' || replace(gen_random_uuid()::text, '-', '') AS event_id
          FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
               WITH ORDINALITY AS u(type, source, subject, occurred_at, payload, n)),
      ev AS (
        INSERT INTO outbox (event_id, type, source, subject, occurred_at, accepted_at, payload)
        SELECT u.event_id, u.type, u.source, u.subject, u.occurred_at, $6,
               jsonb_set(jsonb_set(u.payload::jsonb, '{data,id}', to_jsonb(u.event_id)),
                         '{data,provider}', to_jsonb(coalesce(s.provider, 'unknown')))
          FROM u LEFT JOIN sources s ON s.name = u.source
         ORDER BY u.n
        RETURNING seq, event_id, type, source, subject, payload),
      f AS (
        SELECT e.id AS endpoint_id, ev.seq, ev.subject, p.wait_until, p.n > 0 AS behind,
               $7::int8 IS NOT NULL AND e.failing_since IS NULL
                 AND NOT coalesce(p.foreign, false) AS pushed
          FROM ev JOIN webhook_endpoints e ON e.enabled
           AND (e.source IS NULL OR e.source = ev.source)
           AND (cardinality(e.types) = 0 OR EXISTS (
                 SELECT 1 FROM unnest(e.types) t
                  WHERE t = ev.type OR (t LIKE '%.*' AND starts_with(ev.type, left(t, -1)))))
         CROSS JOIN LATERAL (
           SELECT max(p.next_at) FILTER (WHERE p.leased_until IS NULL OR p.leased_until < now())
                    AS wait_until,
                  bool_or(p.lessee IS DISTINCT FROM $7::int8 OR p.leased_until IS NULL
                          OR p.leased_until < now()) AS foreign,
                  count(*) AS n
             FROM webhook_deliveries p
            WHERE p.endpoint_id = e.id AND p.subject = ev.subject
              AND p.state <> 'delivered' AND p.state <> 'failed') p),
      d AS (
        INSERT INTO webhook_deliveries (endpoint_id, event_seq, subject, next_at, leased_until,
                                        lessee, attempts)
        SELECT f.endpoint_id, f.seq, f.subject,
               CASE WHEN f.pushed THEN now() ELSE greatest(now(), f.wait_until) END,
               CASE WHEN f.pushed THEN now() + $8 * interval '1 ms' END,
               CASE WHEN f.pushed THEN $7::int8 END,
               CASE WHEN f.pushed THEN 1 ELSE 0 END
          FROM f
         ORDER BY f.seq, f.endpoint_id
        RETURNING id, endpoint_id, event_seq, subject, leased_until, attempts, created_at)
     SELECT d.id, d.id AS head, d.event_seq, coalesce(d.leased_until, now()) AS lease,
            d.endpoint_id, e.name AS endpoint, e.url, e.allow_private, d.attempts, d.created_at,
            ev.event_id, ev.type AS event_type,
            CASE WHEN f.pushed THEN ev.payload::text ELSE '' END AS body,
            e.key_id, e.nonce, e.ciphertext,
            CASE WHEN e.previous_until > now() THEN e.previous_key_id END AS previous_key_id,
            CASE WHEN e.previous_until > now() THEN e.previous_nonce END AS previous_nonce,
            CASE WHEN e.previous_until > now() THEN e.previous_ciphertext END
              AS previous_ciphertext,
            d.subject, f.behind, f.pushed
       FROM d JOIN f ON f.endpoint_id = d.endpoint_id AND f.seq = d.event_seq
       JOIN ev ON ev.seq = d.event_seq
       JOIN webhook_endpoints e ON e.id = d.endpoint_id
      ORDER BY d.event_seq, d.endpoint_id"#;

const NOTIFY: &str = "SELECT pg_notify($1, '')";
const NOTIFY_BOTH: &str = "SELECT pg_notify($1, ''), pg_notify($2, '')";

/// Deliveries a process writes leased to itself, to send on commit.
#[derive(Debug, Clone, Copy)]
pub struct HandOver {
    /// The process's lessee (random, per process).
    pub lessee: i64,
    /// How long the written deliveries are leased.
    pub lease: std::time::Duration,
}

/// Writes `events` to the outbox and their deliveries, inside the caller's
/// transaction, and on commit wakes the streams ([`EVENTS_CHANNEL`]) and,
/// when it made deliveries left for a claim, the delivery workers
/// ([`CHANNEL`]); `accepted_at`: when ingest accepted the batch's earliest
/// webhook; `buf`: where the payloads are written (its allocation reused
/// from batch to batch); `hand_over`: write the deliveries that can go at
/// once leased to this process (`None`: every delivery waits for a claim).
/// Returns the handed-over ones, in (seq, endpoint) order: the writing
/// process sends them once the transaction commits.
pub async fn write(
    conn: &mut AsyncPgConnection,
    events: &[OutEvent],
    accepted_at: Option<DateTime<Utc>>,
    buf: &mut Vec<u8>,
    hand_over: Option<HandOver>,
) -> Result<Vec<Pushed>, Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Every payload's text, one after the other in `buf` (kept by the
    // caller from batch to batch); each is bound as a slice of it.
    buf.clear();
    let mut ends = Vec::with_capacity(events.len());
    for e in events {
        e.write_payload(buf, "", "").map_err(encoding)?;
        ends.push(buf.len());
    }
    let text = std::str::from_utf8(buf).map_err(encoding)?;
    let mut c: (Vec<&str>, Vec<&str>, Vec<&str>, Vec<_>, Vec<&str>) = Default::default();
    let mut start = 0;
    for (e, end) in events.iter().zip(ends) {
        c.0.push(e.event_type);
        c.1.push(&e.source);
        c.2.push(&e.subject);
        c.3.push(e.occurred_at);
        c.4.push(text.get(start..end).unwrap_or_default());
        start = end;
    }
    let rows: Vec<Pushed> = Cached(
        diesel::sql_query(WRITE)
            .bind::<Array<Text>, _>(c.0)
            .bind::<Array<Text>, _>(c.1)
            .bind::<Array<Text>, _>(c.2)
            .bind::<Array<Timestamptz>, _>(c.3)
            .bind::<Array<Text>, _>(c.4)
            .bind::<Nullable<Timestamptz>, _>(accepted_at)
            .bind::<Nullable<BigInt>, _>(hand_over.map(|h| h.lessee))
            .bind::<BigInt, _>(hand_over.map_or(0, |h| h.lease.as_millis() as i64)),
    )
    .load(conn)
    .await?;
    let deliveries = rows.len();
    let handed_over: Vec<Pushed> = rows.into_iter().filter(|r| r.pushed).collect();
    if deliveries > handed_over.len() {
        Cached(
            diesel::sql_query(NOTIFY_BOTH)
                .bind::<Text, _>(EVENTS_CHANNEL)
                .bind::<Text, _>(CHANNEL),
        )
        .execute(conn)
        .await?;
    } else {
        Cached(diesel::sql_query(NOTIFY).bind::<Text, _>(EVENTS_CHANNEL))
            .execute(conn)
            .await?;
    }
    Ok(handed_over)
}

/// A payload that could not be written as JSON (not expected: every
/// field is a JSON value already).
fn encoding(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Query(diesel::result::Error::SerializationError(Box::new(e)))
}

/// One committed event, for the stream.
#[derive(Debug, Clone, QueryableByName)]
pub struct StreamEvent {
    /// The position to resume after (`Last-Event-ID`).
    #[diesel(sql_type = Text)]
    pub position: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
}

// Positions are (xid, seq): only transactions that are over are served
// (xid below the snapshot's xmin), and any later commit has a greater xid
// than every one served, so resuming after a position never skips one.
const READ_AFTER: &str = "SELECT xid::text || '-' || seq::text AS position, type AS event_type,
        source, payload
     FROM outbox
     WHERE (xid, seq) > ($1::text::xid8, $2)
       AND xid < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY xid, seq
     LIMIT $3";

/// Up to `limit` committed events after `position` (`None`: from the
/// oldest kept), in order. A malformed position reads from the oldest.
pub async fn read_after(
    conn: &mut AsyncPgConnection,
    position: Option<&str>,
    limit: i64,
) -> Result<Vec<StreamEvent>, Error> {
    let (xid, seq) = position
        .and_then(|p| p.split_once('-'))
        .and_then(|(x, s)| Some((x.parse::<u64>().ok()?, s.parse::<i64>().ok()?)))
        .unwrap_or((0, 0));
    Ok(Cached(
        diesel::sql_query(READ_AFTER)
            .bind::<Text, _>(xid.to_string())
            .bind::<BigInt, _>(seq)
            .bind::<BigInt, _>(limit),
    )
    .load(conn)
    .await?)
}

/// Where the committed events end, for the stream's wake-ups.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Head {
    /// The position of the last event [`read_after`] can serve (`None`:
    /// none). It moves only when more can be served.
    #[diesel(sql_type = Nullable<Text>)]
    pub last: Option<String>,
    /// Whether committed events wait behind a transaction that is not over
    /// yet (they become readable when it ends, without a notification).
    #[diesel(sql_type = Bool)]
    pub held_back: bool,
}

const HEAD: &str = "SELECT (SELECT xid::text || '-' || seq::text FROM outbox
                      WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
                      ORDER BY xid DESC, seq DESC LIMIT 1) AS last,
        EXISTS (SELECT 1 FROM outbox
                 WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())) AS held_back";

/// Where the committed events end (two index probes).
pub async fn head(conn: &mut AsyncPgConnection) -> Result<Head, Error> {
    let mut rows: Vec<Head> = Cached(diesel::sql_query(HEAD)).load(conn).await?;
    Ok(rows.pop().unwrap_or(Head {
        last: None,
        held_back: false,
    }))
}
