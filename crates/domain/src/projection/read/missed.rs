//! The missed calls to return: the open entries of `missed_calls`, one per
//! source and outside number. An operator marks one done with
//! `store::missed::mark_done`.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct MissedCallView {
    #[diesel(sql_type = Text)]
    pub source: String,
    /// The number to call back, as the provider gave it.
    #[diesel(sql_type = Text)]
    pub number: String,
    /// Calls from it nobody answered since it was last answered (or marked
    /// done); 0 when the entry has left the list.
    #[diesel(sql_type = Integer)]
    pub missed_count: i32,
    /// The first and latest start among them.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_at: Option<DateTime<Utc>>,
    /// The latest of them, and why nobody answered it (`abandoned`,
    /// `no_answer`, `busy`, `failed`, `voicemail`).
    #[diesel(sql_type = Nullable<Text>)]
    pub last_call_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_reason: Option<String>,
    /// The start of the latest answered call with the number, if any.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub answered_at: Option<DateTime<Utc>>,
    /// The last "done": up to which start, when and by whom.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub done_through: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub done_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub done_by: Option<String>,
}

/// The open entries (of `source`, or all), the latest missed first, at
/// most `limit`; or, with `keys` (`(source, number)`), those entries
/// whether open or not (what a change notification names).
pub async fn missed_calls(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    keys: Option<&[(String, String)]>,
    limit: i64,
) -> Result<Vec<MissedCallView>, diesel::result::Error> {
    const COLUMNS: &str = "source, number, missed_count, first_at, last_at, last_call_id,
        last_reason, answered_at, done_through, done_at, done_by";
    let Some(keys) = keys else {
        // Served by the partial index missed_calls_open.
        return diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM missed_calls
              WHERE missed_count > 0 AND ($1::text IS NULL OR source = $1)
              ORDER BY last_at DESC, source, number
              LIMIT $2"
        ))
        .bind::<Nullable<Text>, _>(source)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await;
    };
    let (sources, numbers): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(s, n)| (s.as_str(), n.as_str())).unzip();
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM missed_calls
          WHERE ($1::text IS NULL OR source = $1)
            AND (source, number) IN (SELECT * FROM unnest($2::text[], $3::text[]))
          ORDER BY last_at DESC NULLS LAST, source, number
          LIMIT $4"
    ))
    .bind::<Nullable<Text>, _>(source)
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(numbers)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}
