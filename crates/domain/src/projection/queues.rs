//! Queue membership of calls (`call_queues`): loaded with their locked
//! calls, written back (with what is derived) when new or changed.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::merge::{QueueOutcome, QueueRow};
use crate::sql::Cached;

pub(super) const LOAD_QUEUES: &str =
    "SELECT q.source, q.call_id, queue, entered_at, connected_at, answered_at, agent, ended_at,
        outcome
     FROM call_queues q JOIN unnest($1::text[], $2::text[]) AS k(s, i)
       ON q.source = k.s AND q.call_id = k.i";

// Rows come sorted by key (BTreeMaps) and only under their calls' locks.
const WRITE_QUEUES: &str = "INSERT INTO call_queues (source, call_id, queue, entered_at,
        connected_at, answered_at, agent, ended_at, outcome)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                          $5::timestamptz[], $6::timestamptz[], $7::text[], $8::timestamptz[],
                          $9::text[])
     ON CONFLICT (source, call_id, queue) DO UPDATE SET
         entered_at = EXCLUDED.entered_at, connected_at = EXCLUDED.connected_at,
         answered_at = EXCLUDED.answered_at, agent = EXCLUDED.agent,
         ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome, updated_at = now()";

/// A `call_queues` row as loaded.
#[derive(QueryableByName)]
pub(super) struct QueueDb {
    #[diesel(sql_type = Text)]
    pub(super) source: String,
    #[diesel(sql_type = Text)]
    pub(super) call_id: String,
    #[diesel(sql_type = Text)]
    pub(super) queue: String,
    #[diesel(sql_type = Timestamptz)]
    entered_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    connected_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    answered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    agent: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ended_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    outcome: String,
}

impl From<QueueDb> for QueueRow {
    fn from(r: QueueDb) -> Self {
        QueueRow {
            entered_at: r.entered_at,
            connected_at: r.connected_at,
            answered_at: r.answered_at,
            agent: r.agent,
            ended_at: r.ended_at,
            outcome: QueueOutcome::parse(&r.outcome).unwrap_or(QueueOutcome::Waiting),
        }
    }
}

/// Queue rows as column arrays, for one set-based upsert.
#[derive(Default)]
pub(super) struct QueueColumns {
    source: Vec<String>,
    call_id: Vec<String>,
    queue: Vec<String>,
    entered: Vec<DateTime<Utc>>,
    connected: Vec<Option<DateTime<Utc>>>,
    answered: Vec<Option<DateTime<Utc>>>,
    agent: Vec<Option<String>>,
    ended: Vec<Option<DateTime<Utc>>>,
    outcome: Vec<&'static str>,
}

impl QueueColumns {
    /// Whether no row was pushed.
    pub(super) fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    pub(super) fn push(&mut self, source: &str, call_id: &str, queue: &str, r: &QueueRow) {
        self.source.push(source.to_string());
        self.call_id.push(call_id.to_string());
        self.queue.push(queue.to_string());
        self.entered.push(r.entered_at);
        self.connected.push(r.connected_at);
        self.answered.push(r.answered_at);
        self.agent.push(r.agent.clone());
        self.ended.push(r.ended_at);
        self.outcome.push(r.outcome.as_str());
    }

    pub(super) async fn write(
        self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        Cached(
            diesel::sql_query(WRITE_QUEUES)
                .bind::<Array<Text>, _>(self.source)
                .bind::<Array<Text>, _>(self.call_id)
                .bind::<Array<Text>, _>(self.queue)
                .bind::<Array<Timestamptz>, _>(self.entered)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.connected)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.answered)
                .bind::<Array<Nullable<Text>>, _>(self.agent)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.ended)
                .bind::<Array<Text>, _>(self.outcome),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
