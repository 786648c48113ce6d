//! What the projections show: extensions with their status and presence,
//! recent calls, live legs.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
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
    /// The presence the person set (`available`, `away`, `dnd`, `lunch`,
    /// `business_trip`, `off_work`, `unknown:<word>`); `None` = unknown.
    #[diesel(sql_type = Nullable<Text>)]
    pub presence: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_seen: Option<DateTime<Utc>>,
}

/// A live (ringing or in call) leg as the board shows it, with its call's
/// numbers (the other party) and its answer time (a running duration).
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct LiveLegView {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub call_id: String,
    #[diesel(sql_type = Text)]
    pub leg_id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub extension: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub party: Option<String>,
    /// `ringing` or `incall`.
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Bool)]
    pub on_hold: bool,
    /// The provider's channel (Yeastar `channel_id`, what its hang-up API
    /// takes); `None` for Dialpad, whose hang-up takes the leg id.
    #[diesel(sql_type = Nullable<Text>)]
    pub channel_id: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub answered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub direction: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_number: Option<String>,
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
        "SELECT source, number, name, status, presence, last_seen FROM extensions
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
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Lists the live legs (not ended; of `source`, or all) with their call's
/// direction and numbers, by source, call and leg.
pub async fn live_legs(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
) -> Result<Vec<LiveLegView>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT l.source, l.call_id, l.leg_id, l.kind, l.extension, l.party, l.state,
                l.on_hold, l.channel_id, l.started_at, l.answered_at,
                c.direction, c.from_number, c.to_number
         FROM call_legs l
         JOIN calls c ON c.source = l.source AND c.call_id = l.call_id
         WHERE l.state <> 'ended' AND ($1::text IS NULL OR l.source = $1)
         ORDER BY l.source, l.call_id, l.leg_id",
    )
    .bind::<Nullable<Text>, _>(source)
    .load(conn)
    .await
}
