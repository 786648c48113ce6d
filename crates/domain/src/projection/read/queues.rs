//! Queues as a supervisor watches them: the calls waiting now, and per queue
//! the number waiting, the longest wait, today's answered and abandoned
//! calls, the service level, average wait and talk, and its agents by
//! state.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{AGENT_STATE, DAY_START};

/// The service level threshold of a queue without settings (seconds).
pub const DEFAULT_SLA_SECONDS: i32 = 20;

/// A call waiting in a queue now: it entered, nobody answered yet, and it
/// goes on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct WaitingCall {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub queue: String,
    #[diesel(sql_type = Text)]
    pub call_id: String,
    /// The caller.
    #[diesel(sql_type = Nullable<Text>)]
    pub from_number: Option<String>,
    /// When it started waiting (a ticking wait counts from here).
    #[diesel(sql_type = Timestamptz)]
    pub entered_at: DateTime<Utc>,
    /// Seconds waited so far, when read.
    #[diesel(sql_type = BigInt)]
    pub wait_seconds: i64,
}

/// One queue's figures. "Today" is the source's day in its time zone
/// (from `day_start`); a call counts for the day it entered the queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct QueueView {
    #[diesel(sql_type = Text)]
    pub source: String,
    /// The queue's identity (its number; the Dialpad call centre id).
    #[diesel(sql_type = Text)]
    pub queue: String,
    /// The service level threshold: answered within this many seconds
    /// (`worker queue set-sla`, default [`DEFAULT_SLA_SECONDS`]).
    #[diesel(sql_type = Integer)]
    pub sla_seconds: i32,
    /// The start of today in the source's time zone.
    #[diesel(sql_type = Timestamptz)]
    pub day_start: DateTime<Utc>,
    /// Calls waiting now.
    #[diesel(sql_type = BigInt)]
    pub waiting: i64,
    /// When the longest-waiting call started waiting (`None`: nobody
    /// waits), and how long that is, in whole seconds, when read (0 when
    /// nobody waits).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub longest_waiting_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    pub longest_wait_seconds: i64,
    /// Today: answered by a person, abandoned (ended while waiting), and
    /// answered within `sla_seconds` of entering.
    #[diesel(sql_type = BigInt)]
    pub answered_today: i64,
    #[diesel(sql_type = BigInt)]
    pub abandoned_today: i64,
    #[diesel(sql_type = BigInt)]
    pub answered_within_sla_today: i64,
    /// `answered_within_sla_today / (answered_today + abandoned_today)`;
    /// `None` before the day's first answered or abandoned call.
    #[diesel(sql_type = Nullable<Double>)]
    pub service_level: Option<f64>,
    /// Today's answered calls: average seconds from entering to the
    /// answer, and average seconds from the answer to the end (of those
    /// that ended).
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_wait_seconds: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_talk_seconds: Option<f64>,
    /// The queue's agents by state ([`super::AgentState`]): free
    /// (available), busy (ringing, in call, wrap-up), paused, logged out.
    #[diesel(sql_type = BigInt)]
    pub agents_available: i64,
    #[diesel(sql_type = BigInt)]
    pub agents_busy: i64,
    #[diesel(sql_type = BigInt)]
    pub agents_paused: i64,
    #[diesel(sql_type = BigInt)]
    pub agents_logged_out: i64,
}

/// The queues (of `source`, or all; only `keys` (`(source, queue)`) when
/// given), by source and queue, with their figures now. A queue is listed
/// when it has settings, agents, calls waiting or calls that entered it
/// today; unknown keys are left out.
pub async fn queues(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    keys: Option<&[(String, String)]>,
) -> Result<Vec<QueueView>, diesel::result::Error> {
    let (sources, names): (Vec<&str>, Vec<&str>) = keys
        .unwrap_or_default()
        .iter()
        .map(|(s, q)| (s.as_str(), q.as_str()))
        .unzip();
    diesel::sql_query(format!(
        "WITH src AS (
            SELECT s.name AS source, {DAY_START} AS day_start
              FROM sources s WHERE $1::text IS NULL OR s.name = $1),
         known AS (
            SELECT source, queue FROM queue_settings
            UNION SELECT source, queue FROM queue_agents WHERE queue <> ''
            UNION SELECT source, queue FROM call_queues WHERE outcome = 'waiting'
            UNION SELECT q.source, q.queue FROM src
                   JOIN call_queues q ON q.source = src.source AND q.entered_at >= src.day_start),
         k AS (
            SELECT known.source, known.queue, src.day_start FROM known
              JOIN src ON src.source = known.source
             WHERE $2 OR (known.source, known.queue) IN (SELECT * FROM unnest($3::text[], $4::text[])))
         SELECT k.source, k.queue, coalesce(st.sla_seconds, {DEFAULT_SLA_SECONDS}) AS sla_seconds,
                k.day_start, w.waiting, w.longest_waiting_since,
                coalesce(floor(extract(epoch FROM now() - w.longest_waiting_since)), 0)::int8
                    AS longest_wait_seconds,
                t.answered AS answered_today, t.abandoned AS abandoned_today,
                t.within_sla AS answered_within_sla_today,
                t.within_sla::float8 / nullif(t.answered + t.abandoned, 0) AS service_level,
                t.avg_wait AS avg_wait_seconds, t.avg_talk AS avg_talk_seconds,
                a.available AS agents_available, a.busy AS agents_busy,
                a.paused AS agents_paused, a.logged_out AS agents_logged_out
           FROM k
           LEFT JOIN queue_settings st ON st.source = k.source AND st.queue = k.queue
           CROSS JOIN LATERAL (
               SELECT count(*) AS waiting, min(q.entered_at) AS longest_waiting_since
                 FROM call_queues q
                WHERE q.source = k.source AND q.queue = k.queue AND q.outcome = 'waiting') w
           CROSS JOIN LATERAL (
               SELECT count(*) FILTER (WHERE q.outcome = 'answered') AS answered,
                      count(*) FILTER (WHERE q.outcome = 'abandoned') AS abandoned,
                      count(*) FILTER (WHERE q.outcome = 'answered' AND q.answered_at <=
                          q.entered_at + make_interval(secs => coalesce(st.sla_seconds,
                                                                        {DEFAULT_SLA_SECONDS})))
                          AS within_sla,
                      avg(extract(epoch FROM q.answered_at - q.entered_at)::float8)
                          FILTER (WHERE q.outcome = 'answered') AS avg_wait,
                      avg(extract(epoch FROM q.ended_at - q.answered_at)::float8)
                          FILTER (WHERE q.outcome = 'answered' AND q.ended_at IS NOT NULL)
                          AS avg_talk
                 FROM call_queues q
                WHERE q.queue = k.queue AND q.source = k.source
                  AND q.entered_at >= k.day_start) t
           CROSS JOIN LATERAL (
               SELECT count(*) FILTER (WHERE x.state = 'available') AS available,
                      count(*) FILTER (WHERE x.state IN ('ringing', 'incall', 'wrapup')) AS busy,
                      count(*) FILTER (WHERE x.state = 'paused') AS paused,
                      count(*) FILTER (WHERE x.state = 'loggedout') AS logged_out
                 FROM (SELECT CASE WHEN qa.status = 'loggedout' THEN 'loggedout'
                                   ELSE {AGENT_STATE} END AS state
                         FROM queue_agents qa
                        WHERE qa.source = k.source AND qa.queue = k.queue) x) a
          ORDER BY k.source, k.queue"
    ))
    .bind::<Nullable<Text>, _>(source)
    .bind::<diesel::sql_types::Bool, _>(keys.is_none())
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(names)
    .load(conn)
    .await
}

/// The calls waiting now (of `source`, or all; of `queue` too when given),
/// the longest-waiting first.
pub async fn waiting_calls(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    queue: Option<&str>,
) -> Result<Vec<WaitingCall>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT q.source, q.queue, q.call_id, c.from_number, q.entered_at,
                greatest(floor(extract(epoch FROM now() - q.entered_at)), 0)::int8 AS wait_seconds
           FROM call_queues q
           JOIN calls c ON c.source = q.source AND c.call_id = q.call_id
          WHERE q.outcome = 'waiting' AND ($1::text IS NULL OR q.source = $1)
            AND ($2::text IS NULL OR q.queue = $2)
          ORDER BY q.entered_at, q.source, q.queue, q.call_id",
    )
    .bind::<Nullable<Text>, _>(source)
    .bind::<Nullable<Text>, _>(queue)
    .load(conn)
    .await
}
