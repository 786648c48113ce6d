//! What the live board shows: extensions with their status and presence,
//! recent calls, live legs.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// An extension as the board shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct CallView {
    /// Increases with each new call: the board keeps the newest by it.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
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
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub answered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub ended_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub duration_seconds: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub talk_seconds: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub disposition: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub recording_url: Option<String>,
}

/// The columns of [`CallView`], for the queries that load it.
const CALL_COLUMNS: &str = "id, source, call_id, status, direction, from_number, to_number,
    started_at, answered_at, ended_at, duration_seconds, talk_seconds, disposition, recording_url";

/// An extension's card on the board: the extension, and the call it is in
/// or ringing for (an answered leg first, then the newest), if any.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Card {
    #[serde(flatten)]
    pub extension: ExtensionView,
    pub call: Option<CardCall>,
}

/// The call on a card.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CardCall {
    pub call_id: String,
    pub leg_id: String,
    /// `ringing` or `incall`.
    pub state: String,
    /// The other party's number: the caller for an incoming call, the
    /// called number for an outgoing one.
    pub party: Option<String>,
    pub direction: Option<String>,
    pub on_hold: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct CardRow {
    #[diesel(embed)]
    extension: ExtensionView,
    #[diesel(sql_type = Nullable<Text>)]
    call_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    leg_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    leg_state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    other_party: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    direction: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    on_hold: Option<bool>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    leg_started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    leg_answered_at: Option<DateTime<Utc>>,
}

impl From<CardRow> for Card {
    fn from(r: CardRow) -> Card {
        let call = match (r.call_id, r.leg_id, r.leg_state) {
            (Some(call_id), Some(leg_id), Some(state)) => Some(CardCall {
                call_id,
                leg_id,
                state,
                party: r.other_party,
                direction: r.direction,
                on_hold: r.on_hold.unwrap_or(false),
                started_at: r.leg_started_at,
                answered_at: r.leg_answered_at,
            }),
            _ => None,
        };
        Card {
            extension: r.extension,
            call,
        }
    }
}

/// The cards of the extensions `keys` (`(source, number)`; all when
/// `None`), by source and number. Unknown keys are left out.
pub async fn cards(
    conn: &mut AsyncPgConnection,
    keys: Option<&[(String, String)]>,
) -> Result<Vec<Card>, diesel::result::Error> {
    let (sources, numbers): (Vec<&str>, Vec<&str>) = keys
        .unwrap_or_default()
        .iter()
        .map(|(s, n)| (s.as_str(), n.as_str()))
        .unzip();
    let rows: Vec<CardRow> = diesel::sql_query(format!(
        "{CARD_SELECT}
         WHERE $1 OR (e.source, e.number) IN (SELECT * FROM unnest($2::text[], $3::text[]))
         ORDER BY e.source, e.number"
    ))
    .bind::<Bool, _>(keys.is_none())
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(numbers)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(Card::from).collect())
}

/// The cards a committed change may have changed, in one round trip: those
/// of the extensions `keys` (`(source, number)`) and of every extension
/// with a leg (ended ones included) in one of the calls `calls` (`(source,
/// call id)`), by source and number: what [`extensions_of_calls`] and
/// [`cards`] give together. Prepared once per connection (the board's
/// change feed runs it for every round).
pub async fn changed_cards(
    conn: &mut AsyncPgConnection,
    keys: &[(String, String)],
    calls: &[(String, String)],
) -> Result<Vec<Card>, diesel::result::Error> {
    let (sources, numbers): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(s, n)| (s.as_str(), n.as_str())).unzip();
    let (call_sources, call_ids): (Vec<&str>, Vec<&str>) =
        calls.iter().map(|(s, c)| (s.as_str(), c.as_str())).unzip();
    let rows: Vec<CardRow> = crate::sql::Cached(
        diesel::sql_query(format!(
            "{CARD_SELECT}
             WHERE (e.source, e.number) IN (
                     SELECT * FROM unnest($1::text[], $2::text[])
                     UNION
                     SELECT k.source, k.extension FROM call_legs k
                      WHERE k.extension IS NOT NULL
                        AND (k.source, k.call_id) IN (SELECT * FROM unnest($3::text[], $4::text[])))
             ORDER BY e.source, e.number"
        ))
        .bind::<Array<Text>, _>(sources)
        .bind::<Array<Text>, _>(numbers)
        .bind::<Array<Text>, _>(call_sources)
        .bind::<Array<Text>, _>(call_ids),
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(Card::from).collect())
}

/// A card's columns: the extension and its live leg (in call first, then
/// the newest), from `extensions e`; the caller adds the WHERE.
const CARD_SELECT: &str = "SELECT e.source, e.number, e.name, e.status, e.presence, e.last_seen,
                l.call_id, l.leg_id, l.state AS leg_state, l.other_party, l.direction,
                l.on_hold, l.started_at AS leg_started_at, l.answered_at AS leg_answered_at
         FROM extensions e
         LEFT JOIN LATERAL (
            SELECT l.call_id, l.leg_id, l.state, l.on_hold, l.started_at, l.answered_at,
                   c.direction,
                   CASE WHEN c.from_number = e.number THEN c.to_number
                        WHEN c.to_number = e.number THEN c.from_number
                        WHEN c.direction = 'outbound' THEN c.to_number
                        ELSE c.from_number END AS other_party
              FROM call_legs l
              JOIN calls c ON c.source = l.source AND c.call_id = l.call_id
             WHERE l.source = e.source AND l.extension = e.number AND l.state <> 'ended'
             ORDER BY (l.state = 'incall') DESC, l.started_at DESC NULLS LAST, l.id DESC
             LIMIT 1) l ON true";

/// The extensions (`(source, number)`) with a leg in one of the calls
/// `calls` (`(source, call id)`), ended legs included: the cards a change
/// of those calls may change.
pub async fn extensions_of_calls(
    conn: &mut AsyncPgConnection,
    calls: &[(String, String)],
) -> Result<Vec<(String, String)>, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        source: String,
        #[diesel(sql_type = Text)]
        extension: String,
    }
    let (sources, ids): (Vec<&str>, Vec<&str>) =
        calls.iter().map(|(s, c)| (s.as_str(), c.as_str())).unzip();
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT DISTINCT l.source, l.extension FROM call_legs l
          WHERE l.extension IS NOT NULL
            AND (l.source, l.call_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
    )
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(ids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.source, r.extension)).collect())
}

/// The calls `keys` (`(source, call id)`), newest first.
pub async fn calls(
    conn: &mut AsyncPgConnection,
    keys: &[(String, String)],
) -> Result<Vec<CallView>, diesel::result::Error> {
    let (sources, ids): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(s, c)| (s.as_str(), c.as_str())).unzip();
    crate::sql::Cached(
        diesel::sql_query(format!(
            "SELECT {CALL_COLUMNS} FROM calls
              WHERE (source, call_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
              ORDER BY id DESC"
        ))
        .bind::<Array<Text>, _>(sources)
        .bind::<Array<Text>, _>(ids),
    )
    .load(conn)
    .await
}

/// The calls not ended yet (of `source`, or all), newest first, at most
/// `limit`.
pub async fn active_calls(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<CallView>, diesel::result::Error> {
    diesel::sql_query(format!(
        "SELECT {CALL_COLUMNS} FROM calls
          WHERE status <> 'ended' AND ($1::text IS NULL OR source = $1)
          ORDER BY id DESC LIMIT $2"
    ))
    .bind::<Nullable<Text>, _>(source)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
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
    diesel::sql_query(format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE $1::text IS NULL OR source = $1
         ORDER BY id DESC LIMIT $2"
    ))
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
