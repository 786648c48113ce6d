//! Deliveries: claimed when due with `FOR UPDATE SKIP LOCKED` (any number
//! of delivery workers), leased while in flight, completed with what the
//! attempt got. Order per subject: a delivery is claimable only when no
//! earlier delivery of the same subject to the same endpoint is pending
//! (delivered or given up lets the next one go), and a rescheduled one
//! pushes its successors' due times behind it, so that blocked deliveries
//! are not due and claims never wade through them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::sql::Cached;

use super::endpoints::{sealing_name, SigningSecrets};
use crate::secrets::{CryptoError, Keyring};

/// How long a claimed delivery stays leased to its delivery worker: past
/// it (the worker died), another claims it again.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// Claims and completions commit without waiting for the WAL flush.
const ASYNC_COMMIT: &str = "SET LOCAL synchronous_commit = off";

/// A claimed delivery, with its endpoint and event.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
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
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
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

// Per enabled endpoint not busy in this worker, up to $4 due deliveries in
// due order (the index (endpoint_id, next_at) of pending ones, read until
// enough are found: a claim never scans the backlog), each the earliest
// pending of its subject to that endpoint (a min() only the index
// (endpoint_id, subject, event_seq) serves, whatever the statistics say);
// at most $1 in all.
const CLAIM: &str = "WITH c AS (
        SELECT x.id FROM webhook_endpoints e
         CROSS JOIN LATERAL (
           SELECT d.id FROM webhook_deliveries d
            WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.next_at <= now()
              AND (d.leased_until IS NULL OR d.leased_until < now())
              AND d.event_seq = (SELECT min(p.event_seq) FROM webhook_deliveries p
                                  WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject
                                    AND p.state = 'pending')
            ORDER BY d.next_at
            LIMIT $4
            FOR UPDATE OF d SKIP LOCKED) x
         WHERE e.enabled AND e.id <> ALL ($2::int8[])
         LIMIT $1)
     UPDATE webhook_deliveries d
        SET leased_until = now() + $3 * interval '1 ms', attempts = d.attempts + 1,
            first_attempt_at = coalesce(d.first_attempt_at, now()), last_attempt_at = now()
       FROM c, webhook_endpoints e, outbox o
      WHERE d.id = c.id AND e.id = d.endpoint_id AND o.seq = d.event_seq
     RETURNING d.id, d.endpoint_id, e.name AS endpoint, e.url, e.allow_private, d.attempts,
            d.created_at, o.event_id, o.type AS event_type, o.payload, e.key_id, e.nonce,
            e.ciphertext,
            CASE WHEN e.previous_until > now() THEN e.previous_key_id END AS previous_key_id,
            CASE WHEN e.previous_until > now() THEN e.previous_nonce END AS previous_nonce,
            CASE WHEN e.previous_until > now() THEN e.previous_ciphertext END
              AS previous_ciphertext";

/// Claims up to `limit` due deliveries, at most `per_endpoint` of each
/// endpoint and none of the endpoints `busy` (at their in-flight limit in
/// this worker), leasing them for [`CLAIM_LEASE`].
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    per_endpoint: i64,
    busy: &[i64],
) -> Result<Vec<Claimed>, crate::Error> {
    use diesel_async::AsyncConnection;
    // A lease lost in a crash is only claimed again (see complete).
    conn.transaction::<_, crate::Error, _>(async |conn| {
        Cached(diesel::sql_query(ASYNC_COMMIT))
            .execute(conn)
            .await?;
        Ok(Cached(
            diesel::sql_query(CLAIM)
                .bind::<BigInt, _>(limit)
                .bind::<Array<BigInt>, _>(busy)
                .bind::<BigInt, _>(CLAIM_LEASE.as_millis() as i64)
                .bind::<BigInt, _>(per_endpoint),
        )
        .load(conn)
        .await?)
    })
    .await
}

/// What one attempt got.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// The HTTP status, when an answer came.
    pub status: Option<i32>,
    /// Why it failed without an answer (timeout, refused, SSRF).
    pub error: Option<String>,
    pub latency_ms: i32,
    /// The start of the answer's body (capped, UTF-8, no NUL).
    pub excerpt: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A 2xx: done; the endpoint's failure streak ends.
    Delivered,
    /// Try again at this time (its successors wait behind it).
    Retry(DateTime<Utc>),
    /// Retried for long enough: given up (its successors go on).
    GiveUp,
    /// 410 Gone: the endpoint is disabled; the delivery waits, pending, for
    /// it to be enabled again.
    Gone,
}

// One statement (one round trip): the delivery; its successors wait behind
// a retried one; the endpoint's failure streak ends on a success, starts on
// a failure; a 410 disables it. $2: delivered, retry, failed or gone.
const COMPLETE: &str = "WITH d AS (
        UPDATE webhook_deliveries SET
            state = CASE $2 WHEN 'delivered' THEN 'delivered' WHEN 'failed' THEN 'failed'
                    ELSE 'pending' END,
            next_at = coalesce($3, next_at), leased_until = NULL, last_status = $4,
            last_error = $5, last_latency_ms = $6, response_excerpt = $7,
            done_at = CASE WHEN $2 IN ('delivered', 'failed') THEN now() END
         WHERE id = $1
        RETURNING endpoint_id, subject, event_seq),
      pushed AS (
        UPDATE webhook_deliveries s SET next_at = $3
          FROM d
         WHERE $3 IS NOT NULL AND s.endpoint_id = d.endpoint_id AND s.subject = d.subject
           AND s.state = 'pending' AND s.event_seq > d.event_seq AND s.next_at < $3
        RETURNING 1),
      e AS (
        UPDATE webhook_endpoints SET
            failing_since = CASE $2 WHEN 'delivered' THEN NULL WHEN 'gone' THEN failing_since
                            ELSE coalesce(failing_since, now()) END,
            enabled = CASE WHEN $2 = 'gone' THEN false ELSE enabled END,
            disabled_reason = CASE WHEN $2 = 'gone' THEN 'the endpoint answered 410 Gone'
                              ELSE disabled_reason END,
            updated_at = CASE WHEN $2 = 'gone' THEN now() ELSE updated_at END
         WHERE id = $8 AND ($2 = 'gone' OR ($2 = 'delivered' AND failing_since IS NOT NULL)
                OR ($2 IN ('retry', 'failed') AND failing_since IS NULL))
        RETURNING 1)
     SELECT (SELECT count(*) FROM d) AS n";

/// Records attempt `a` of delivery `id` (to endpoint `endpoint_id`) and
/// what becomes of it, in one statement.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    id: i64,
    endpoint_id: i64,
    a: &Attempt,
    next: Next,
) -> Result<(), crate::Error> {
    let (outcome, at) = match next {
        Next::Delivered => ("delivered", None),
        Next::Retry(at) => ("retry", Some(at)),
        Next::GiveUp => ("failed", None),
        Next::Gone => ("gone", None),
    };
    use diesel_async::AsyncConnection;
    // Not waiting for the WAL flush: a completion lost in a crash only
    // sends that delivery again once its lease runs out (at least once),
    // and one flush per delivery would cap deliveries at the disk's syncs.
    conn.transaction::<(), crate::Error, _>(async |conn| {
        Cached(diesel::sql_query(ASYNC_COMMIT))
            .execute(conn)
            .await?;
        Cached(
            diesel::sql_query(COMPLETE)
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(outcome)
                .bind::<Nullable<Timestamptz>, _>(at)
                .bind::<Nullable<Integer>, _>(a.status)
                .bind::<Nullable<Text>, _>(&a.error)
                .bind::<Integer, _>(a.latency_ms)
                .bind::<Nullable<Text>, _>(&a.excerpt)
                .bind::<BigInt, _>(endpoint_id),
        )
        .execute(conn)
        .await?;
        Ok(())
    })
    .await
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Disables the enabled endpoints whose every attempt has failed for at
/// least `after`. Returns their names.
pub async fn disable_failing(
    conn: &mut AsyncPgConnection,
    after: Duration,
) -> Result<Vec<String>, crate::Error> {
    let rows: Vec<Name> = diesel::sql_query(
        "UPDATE webhook_endpoints SET enabled = false, updated_at = now(),
            disabled_reason = 'failing since ' || to_char(failing_since AT TIME ZONE 'UTC',
                                                           'YYYY-MM-DD HH24:MI:SS') || ' UTC'
          WHERE enabled AND failing_since < now() - $1 * interval '1 ms'
          RETURNING name",
    )
    .bind::<BigInt, _>(i64::try_from(after.as_millis()).unwrap_or(i64::MAX))
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Deliveries of one endpoint by state, for the metrics.
#[derive(Debug, Clone, QueryableByName)]
pub struct DeliveryStats {
    #[diesel(sql_type = Text)]
    pub endpoint: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
}

impl DeliveryStats {
    /// Every endpoint's pending and given-up deliveries.
    pub async fn load(conn: &mut AsyncPgConnection) -> Result<Vec<DeliveryStats>, crate::Error> {
        Ok(diesel::sql_query(
            "SELECT e.name AS endpoint, e.enabled,
                    count(*) FILTER (WHERE d.state = 'pending') AS pending,
                    count(*) FILTER (WHERE d.state = 'failed') AS failed
               FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
              GROUP BY e.id ORDER BY e.name",
        )
        .load(conn)
        .await?)
    }
}

/// Deletes outbox events older than `retention` that no delivery still
/// waits for (their delivered and given-up deliveries go with them), at
/// most `limit` at a time. Returns how many.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    retention: Duration,
    limit: i64,
) -> Result<usize, crate::Error> {
    Ok(diesel::sql_query(
        "DELETE FROM outbox WHERE seq IN (
            SELECT o.seq FROM outbox o
             WHERE o.created_at < now() - $1 * interval '1 ms'
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                WHERE d.event_seq = o.seq AND d.state = 'pending')
             ORDER BY o.seq LIMIT $2)",
    )
    .bind::<BigInt, _>(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await?)
}

/// Sends event `event_id` to endpoint `endpoint` again (a delivery of its
/// own if the endpoint never had one), due now, with a fresh retry period.
/// Returns `false` when there is no such endpoint or event.
pub async fn resend(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    event_id: &str,
) -> Result<bool, crate::Error> {
    let n = diesel::sql_query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_seq, subject)
         SELECT e.id, o.seq, o.subject FROM webhook_endpoints e, outbox o
          WHERE e.name = $1 AND o.event_id = $2
         ON CONFLICT (endpoint_id, event_seq) DO UPDATE SET state = 'pending', next_at = now(),
            created_at = now(), done_at = NULL, leased_until = NULL",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Text, _>(event_id)
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Sends again every delivery to endpoint `endpoint` given up since
/// `since`, due now with a fresh retry period. Returns how many.
pub async fn recover(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    since: DateTime<Utc>,
) -> Result<usize, crate::Error> {
    Ok(diesel::sql_query(
        "UPDATE webhook_deliveries d SET state = 'pending', next_at = now(), created_at = now(),
            done_at = NULL, leased_until = NULL
           FROM webhook_endpoints e
          WHERE e.id = d.endpoint_id AND e.name = $1 AND d.state = 'failed' AND d.done_at >= $2",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Timestamptz, _>(since)
    .execute(conn)
    .await?)
}
