//! What the projections show: extensions with their status, recent calls.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// An extension as the board shows it.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct ExtensionView {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub number: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_seen: Option<DateTime<Utc>>,
}

/// A call as the board shows it.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct CallView {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub call_id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub direction: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub recording_url: Option<String>,
}

/// Lists the extensions (of `source`, or all), by source and number.
pub async fn extensions(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
) -> Result<Vec<ExtensionView>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT source, number, name, status, last_seen FROM extensions
         WHERE $1::text IS NULL OR source = $1
         ORDER BY source, number",
    )
    .bind::<Nullable<Text>, _>(source)
    .load(conn)
    .await
}

/// Lists the `limit` most recent calls (of `source`, or all), newest first.
pub async fn recent_calls(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<CallView>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT source, call_id, status, direction, from_number, to_number, recording_url
         FROM calls WHERE $1::text IS NULL OR source = $1
         ORDER BY id DESC LIMIT $2",
    )
    .bind::<Nullable<Text>, _>(source)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}
