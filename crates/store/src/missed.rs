//! The missed calls list's operator side: an operator marks an entry done
//! (the board's route calls [`mark_done`]), which is audited in
//! `missed_call_actions` in the same transaction; `worker audit --missed`
//! lists them ([`audit`]). The list itself is kept by the worker
//! (`domain::projection::missed`) and read with
//! `domain::projection::read::missed_calls`.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

/// What [`mark_done`] cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Done {
    pub source: String,
    pub number: String,
    /// Missed calls the entry counted before, and after (more than 0 when
    /// a call missed after `through` came in meanwhile: it stays listed).
    pub cleared: i32,
    pub left: i32,
    /// Missed calls that started at or before this are done.
    pub done_through: Option<DateTime<Utc>>,
    /// The latest call the operator cleared.
    pub last_call_id: Option<String>,
}

#[derive(QueryableByName)]
struct Entry {
    #[diesel(sql_type = Integer)]
    missed_count: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    last_call_id: Option<String>,
}

/// Why an entry could not be marked done.
#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error("no missed calls from {number:?} on source {name:?}")]
    NotListed { name: String, number: String },
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Marks the entry of `number` on `source` done for `user`: its missed
/// calls that started at or before `through` (what the operator saw: the
/// entry's `last_at`; `None`: up to its latest now) leave the list, a call
/// missed later stays; recomputed under the entry's lock like the worker
/// does (`domain::projection::missed::recount`), and audited in the same
/// transaction. Fails with
/// [`MarkError::NotListed`] when the entry is not on the list.
pub async fn mark_done(
    conn: &mut AsyncPgConnection,
    user: &str,
    source: &str,
    number: &str,
    through: Option<DateTime<Utc>>,
) -> Result<Done, MarkError> {
    conn.transaction(async |conn| {
        let mut rows: Vec<Entry> = diesel::sql_query(
            "SELECT missed_count, last_at, last_call_id FROM missed_calls
              WHERE source = $1 AND number = $2 FOR UPDATE",
        )
        .bind::<Text, _>(source)
        .bind::<Text, _>(number)
        .load(conn)
        .await?;
        let not_listed = || MarkError::NotListed {
            name: source.to_string(),
            number: number.to_string(),
        };
        let entry = rows.pop().ok_or_else(not_listed)?;
        if entry.missed_count == 0 {
            return Err(not_listed());
        }
        let through = through.or(entry.last_at);
        diesel::sql_query(
            "UPDATE missed_calls SET done_through = greatest(done_through, $3), done_at = now(),
                    done_by = $4, updated_at = now()
              WHERE source = $1 AND number = $2",
        )
        .bind::<Text, _>(source)
        .bind::<Text, _>(number)
        .bind::<Nullable<Timestamptz>, _>(through)
        .bind::<Text, _>(user)
        .execute(conn)
        .await?;
        domain::projection::missed::recount(conn, &[source.into()], &[number.into()]).await?;
        let after: Entry = diesel::sql_query(
            "SELECT missed_count, last_at, last_call_id FROM missed_calls
              WHERE source = $1 AND number = $2",
        )
        .bind::<Text, _>(source)
        .bind::<Text, _>(number)
        .get_result(conn)
        .await?;
        let cleared = entry.missed_count - after.missed_count.min(entry.missed_count);
        diesel::sql_query(
            "INSERT INTO missed_call_actions (user_name, source, number, missed_count,
                                              done_through, last_call_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind::<Text, _>(user)
        .bind::<Text, _>(source)
        .bind::<Text, _>(number)
        .bind::<Integer, _>(cleared)
        .bind::<Nullable<Timestamptz>, _>(through)
        .bind::<Nullable<Text>, _>(entry.last_call_id.as_deref())
        .execute(conn)
        .await?;
        Ok(Done {
            source: source.to_string(),
            number: number.to_string(),
            cleared,
            left: after.missed_count,
            done_through: through,
            last_call_id: entry.last_call_id,
        })
    })
    .await
}

/// An audited "done", as `worker audit --missed` shows it.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct DoneRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub number: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Integer)]
    pub missed_count: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub done_through: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_call_id: Option<String>,
}

/// The newest `limit` "done" marks (of `source` only, when given), newest
/// first.
pub async fn audit(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<DoneRow>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT id, at, user_name, source, number, action, missed_count, done_through,
                last_call_id
           FROM missed_call_actions
          WHERE $1::text IS NULL OR source = $1
          ORDER BY id DESC
          LIMIT $2",
    )
    .bind::<Nullable<Text>, _>(source)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}
