//! Completions, many per transaction (a delivery worker groups those that
//! finished while the previous group was being written): each attempt's
//! result, the failure streak of its endpoint, the successors a retried
//! delivery holds back; and the unsent rest of a run given back. Each
//! applies only while its lease holds: a delivery whose lease ran out and
//! was claimed again is left to its new holder.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::sql::Cached;

use super::{Attempt, Next, ASYNC_COMMIT};

/// What becomes of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Completion {
    /// Attempted at `at`: `attempt` got this, `next` follows.
    Attempted {
        id: i64,
        lease: DateTime<Utc>,
        at: DateTime<Utc>,
        attempt: Attempt,
        next: Next,
    },
    /// Not attempted (its run stopped before it): given back, due no
    /// earlier than `not_before`.
    Released {
        id: i64,
        lease: DateTime<Utc>,
        not_before: Option<DateTime<Utc>>,
    },
}

// The unsent rest of runs: the lease and the attempt the claim counted go;
// due now, or behind the retry that stopped the run.
const RELEASE: &str = "UPDATE webhook_deliveries w
        SET leased_until = NULL, attempts = w.attempts - 1,
            next_at = coalesce(u.not_before, now())
       FROM unnest($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS u(id, lease, not_before)
      WHERE w.id = u.id AND w.leased_until = u.lease AND w.state = 'pending'";

// The attempts; then per endpoint, from its latest attempt in the group,
// whether its failure streak ends or starts, and a 410 disables it; and the
// pending successors of a retried delivery wait behind it.
const COMPLETE: &str = "WITH u AS (
        SELECT * FROM unnest($1::int8[], $2::timestamptz[], $3::timestamptz[], $4::text[],
                             $5::timestamptz[], $6::int4[], $7::text[], $8::int4[], $9::text[])
               AS u(id, lease, at, outcome, next_at, status, error, latency, excerpt)),
      d AS (
        UPDATE webhook_deliveries w SET
            state = CASE u.outcome WHEN 'delivered' THEN 'delivered' WHEN 'failed' THEN 'failed'
                    ELSE 'pending' END,
            next_at = coalesce(u.next_at, now()), leased_until = NULL,
            first_attempt_at = coalesce(w.first_attempt_at, u.at), last_attempt_at = u.at,
            last_status = u.status, last_error = u.error, last_latency_ms = u.latency,
            response_excerpt = u.excerpt,
            done_at = CASE WHEN u.outcome IN ('delivered', 'failed') THEN now() END
          FROM u
         WHERE w.id = u.id AND w.leased_until = u.lease AND w.state = 'pending'
        RETURNING w.id, w.endpoint_id, w.subject, w.event_seq, u.outcome, u.next_at, u.at),
      l AS (
        SELECT endpoint_id, bool_or(outcome = 'gone') AS gone,
               (array_agg(outcome ORDER BY at DESC))[1] AS last
          FROM d GROUP BY endpoint_id),
      e AS (
        UPDATE webhook_endpoints x SET
            failing_since = CASE WHEN l.last = 'delivered' THEN NULL
                                 WHEN l.last = 'gone' THEN x.failing_since
                                 ELSE coalesce(x.failing_since, now()) END,
            enabled = x.enabled AND NOT l.gone,
            disabled_reason = CASE WHEN l.gone THEN 'the endpoint answered 410 Gone'
                              ELSE x.disabled_reason END,
            updated_at = CASE WHEN l.gone THEN now() ELSE x.updated_at END
          FROM l
         WHERE x.id = l.endpoint_id
           AND (l.gone OR (l.last = 'delivered' AND x.failing_since IS NOT NULL)
                OR (l.last IN ('retry', 'failed') AND x.failing_since IS NULL))
        RETURNING 1),
      pushed AS (
        UPDATE webhook_deliveries s SET next_at = d.next_at
          FROM d
         WHERE d.outcome = 'retry' AND s.endpoint_id = d.endpoint_id AND s.subject = d.subject
           AND s.state <> 'delivered' AND s.state <> 'failed' AND s.event_seq > d.event_seq
           AND s.next_at < d.next_at
           AND s.id <> ALL ($1::int8[])
        RETURNING 1)
     SELECT count(*) AS n FROM d";

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Records `done` in one transaction. Returns how many attempts applied
/// (the others had lost their lease).
pub async fn complete(
    conn: &mut AsyncPgConnection,
    done: &[Completion],
) -> Result<usize, crate::Error> {
    #[derive(Default)]
    struct Attempts<'a> {
        id: Vec<i64>,
        lease: Vec<DateTime<Utc>>,
        at: Vec<DateTime<Utc>>,
        outcome: Vec<&'static str>,
        next_at: Vec<Option<DateTime<Utc>>>,
        status: Vec<Option<i32>>,
        error: Vec<Option<&'a str>>,
        latency: Vec<i32>,
        excerpt: Vec<Option<&'a str>>,
    }
    #[derive(Default)]
    struct Releases {
        id: Vec<i64>,
        lease: Vec<DateTime<Utc>>,
        not_before: Vec<Option<DateTime<Utc>>>,
    }
    let mut a = Attempts::default();
    let mut r = Releases::default();
    for c in done {
        match c {
            Completion::Attempted {
                id,
                lease,
                at,
                attempt,
                next,
            } => {
                a.id.push(*id);
                a.lease.push(*lease);
                a.at.push(*at);
                a.outcome.push(next.outcome());
                a.next_at.push(match next {
                    Next::Retry(t) => Some(*t),
                    _ => None,
                });
                a.status.push(attempt.status);
                a.error.push(attempt.error.as_deref());
                a.latency.push(attempt.latency_ms);
                a.excerpt.push(attempt.excerpt.as_deref());
            }
            Completion::Released {
                id,
                lease,
                not_before,
            } => {
                r.id.push(*id);
                r.lease.push(*lease);
                r.not_before.push(*not_before);
            }
        }
    }
    use diesel_async::AsyncConnection;
    conn.transaction::<usize, crate::Error, _>(async |conn| {
        Cached(diesel::sql_query(ASYNC_COMMIT))
            .execute(conn)
            .await?;
        if !r.id.is_empty() {
            Cached(
                diesel::sql_query(RELEASE)
                    .bind::<Array<BigInt>, _>(&r.id)
                    .bind::<Array<Timestamptz>, _>(&r.lease)
                    .bind::<Array<Nullable<Timestamptz>>, _>(&r.not_before),
            )
            .execute(conn)
            .await?;
        }
        if a.id.is_empty() {
            return Ok(0);
        }
        let n: Count = Cached(
            diesel::sql_query(COMPLETE)
                .bind::<Array<BigInt>, _>(&a.id)
                .bind::<Array<Timestamptz>, _>(&a.lease)
                .bind::<Array<Timestamptz>, _>(&a.at)
                .bind::<Array<Text>, _>(&a.outcome)
                .bind::<Array<Nullable<Timestamptz>>, _>(&a.next_at)
                .bind::<Array<Nullable<Integer>>, _>(&a.status)
                .bind::<Array<Nullable<Text>>, _>(&a.error)
                .bind::<Array<Integer>, _>(&a.latency)
                .bind::<Array<Nullable<Text>>, _>(&a.excerpt),
        )
        .get_result(conn)
        .await?;
        Ok(usize::try_from(n.n).unwrap_or(0))
    })
    .await
}
