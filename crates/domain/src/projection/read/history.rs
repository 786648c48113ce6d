//! The history of calls: search past calls by number, extension, queue,
//! disposition and time range, newest first, a page at a time (keyset
//! pagination on the call's start and id, so a page costs the same however
//! deep it is). Each filter has an index (`calls_by_start`,
//! `calls_by_from`, `calls_by_to`, `calls_by_outcome`,
//! `call_legs_by_extension`, `call_queues_by_queue`); `just bench` measures
//! it over 10 million calls.

use chrono::{DateTime, TimeZone, Utc};
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The most calls one page holds.
pub const MAX_PAGE: i64 = 1000;

/// Where a page ends: the last call's start (`coalesce(started_at,
/// created_at)`) and id. Written as `<start in microseconds>.<id>` in URLs
/// and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub start: DateTime<Utc>,
    pub id: i64,
}

/// A cursor that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a page cursor: {0:?} (expected <microseconds>.<id>)")]
pub struct CursorError(pub String);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.start.timestamp_micros(), self.id)
    }
}

impl std::str::FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CursorError(s.chars().take(64).collect());
        let (t, id) = s.split_once('.').ok_or_else(bad)?;
        let micros: i64 = t.parse().map_err(|_| bad())?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        let start = Utc.timestamp_micros(micros).single().ok_or_else(bad)?;
        Ok(Cursor { start, id })
    }
}

/// What to search for; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryFilter {
    pub source: Option<String>,
    /// A number at either end of the call (`from_number` or `to_number`),
    /// exactly as stored.
    pub number: Option<String>,
    /// An extension with a leg in the call (the Dialpad user id).
    pub extension: Option<String>,
    /// A queue the call went through.
    pub queue: Option<String>,
    /// The disposition: `calls.outcome` (`answered`, `abandoned`,
    /// `no_answer`, `busy`, `failed`, `voicemail`).
    pub outcome: Option<String>,
    /// Calls that started at or after `since` and before `until`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// The page after this one (the previous page's `next`).
    pub after: Option<Cursor>,
    /// Calls per page, 1 to [`MAX_PAGE`].
    pub limit: i64,
}

/// A call of the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct HistoryCall {
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
    /// The sort key: the start, or when the call was first heard of.
    #[diesel(sql_type = Timestamptz)]
    pub start: DateTime<Utc>,
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
    /// The provider's word (`answered`, `no answer`, `missed`, ...).
    #[diesel(sql_type = Nullable<Text>)]
    pub disposition: Option<String>,
    /// What became of it (`answered`, `abandoned`, `no_answer`, `busy`,
    /// `failed`, `voicemail`; `None` while it goes on unanswered).
    #[diesel(sql_type = Nullable<Text>)]
    pub outcome: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub failure_reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub recording_url: Option<String>,
    /// The queues it went through, in order, and the extensions with a leg
    /// in it.
    #[diesel(sql_type = Array<Text>)]
    pub queues: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub extensions: Vec<String>,
}

/// One page of the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryPage {
    pub calls: Vec<HistoryCall>,
    /// The cursor of the next page; `None` on the last one.
    #[serde(serialize_with = "cursor_text")]
    pub next: Option<Cursor>,
}

fn cursor_text<S: serde::Serializer>(c: &Option<Cursor>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(&c.to_string()),
        None => s.serialize_none(),
    }
}

/// The sort key of a call, as the indexes have it.
const START: &str = "coalesce(c.started_at, c.created_at)";

/// A bound value of the search.
enum Bind<'a> {
    Text(&'a str),
    Time(DateTime<Utc>),
    Int(i64),
}

/// One page of the calls matching `f`, newest first (by start, then id).
pub async fn history(
    conn: &mut AsyncPgConnection,
    f: &HistoryFilter,
) -> Result<HistoryPage, diesel::result::Error> {
    let limit = f.limit.clamp(1, MAX_PAGE);
    let mut binds: Vec<Bind<'_>> = Vec::new();
    fn param<'a>(b: Bind<'a>, binds: &mut Vec<Bind<'a>>) -> String {
        binds.push(b);
        format!("${}", binds.len())
    }
    let mut sql = format!(
        "SELECT c.id, c.source, c.call_id, c.status, c.direction, c.from_number, c.to_number,
                {START} AS start, c.started_at, c.answered_at, c.ended_at, c.duration_seconds,
                c.talk_seconds, c.disposition, c.outcome, c.failure_reason, c.recording_url,
                array(SELECT q.queue FROM call_queues q
                       WHERE q.source = c.source AND q.call_id = c.call_id
                       ORDER BY q.entered_at, q.queue) AS queues,
                array(SELECT DISTINCT l.extension FROM call_legs l
                       WHERE l.source = c.source AND l.call_id = c.call_id
                         AND l.extension IS NOT NULL ORDER BY 1) AS extensions
           FROM calls c WHERE true"
    );
    let source = f
        .source
        .as_deref()
        .map(|s| param(Bind::Text(s), &mut binds));
    if let Some(s) = &source {
        sql += &format!(" AND c.source = {s}");
    }
    if let Some(n) = f.number.as_deref() {
        let p = param(Bind::Text(n), &mut binds);
        sql += &format!(" AND (c.from_number = {p} OR c.to_number = {p})");
    }
    let in_source = |table: &str| match &source {
        Some(s) => format!(" AND {table}.source = {s}"),
        None => String::new(),
    };
    if let Some(e) = f.extension.as_deref() {
        let p = param(Bind::Text(e), &mut binds);
        sql += &format!(
            " AND (c.source, c.call_id) IN (SELECT l.source, l.call_id FROM call_legs l
                                             WHERE l.extension = {p}{})",
            in_source("l")
        );
    }
    if let Some(q) = f.queue.as_deref() {
        let p = param(Bind::Text(q), &mut binds);
        sql += &format!(
            " AND (c.source, c.call_id) IN (SELECT q.source, q.call_id FROM call_queues q
                                             WHERE q.queue = {p}{})",
            in_source("q")
        );
    }
    if let Some(o) = f.outcome.as_deref() {
        let p = param(Bind::Text(o), &mut binds);
        sql += &format!(" AND c.outcome = {p}");
    }
    if let Some(t) = f.since {
        sql += &format!(" AND {START} >= {}", param(Bind::Time(t), &mut binds));
    }
    if let Some(t) = f.until {
        sql += &format!(" AND {START} < {}", param(Bind::Time(t), &mut binds));
    }
    if let Some(c) = f.after {
        let t = param(Bind::Time(c.start), &mut binds);
        let id = param(Bind::Int(c.id), &mut binds);
        sql += &format!(" AND ({START}, c.id) < ({t}, {id})");
    }
    let l = param(Bind::Int(limit + 1), &mut binds);
    sql += &format!(" ORDER BY {START} DESC, c.id DESC LIMIT {l}");
    let mut q = diesel::sql_query(sql).into_boxed::<Pg>();
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind::<Text, _>(s),
            Bind::Time(t) => q.bind::<Timestamptz, _>(t),
            Bind::Int(i) => q.bind::<BigInt, _>(i),
        };
    }
    let mut calls: Vec<HistoryCall> = q.load(conn).await?;
    let next = if calls.len() as i64 > limit {
        calls.truncate(limit as usize);
        calls.last().map(|c| Cursor {
            start: c.start,
            id: c.id,
        })
    } else {
        None
    };
    Ok(HistoryPage { calls, next })
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_round_trip_and_refuse_nonsense() {
        let c: Cursor = "1736413250123456.42".parse().expect("reads");
        assert_eq!(c.id, 42);
        assert_eq!(c.to_string(), "1736413250123456.42");
        for bad in ["", "1.2.3", "x.1", "1.y", "99999999999999999999.1", "1"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }
}
