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

/// The columns of a [`HistoryCall`], but its start.
const COLUMNS: &str = "c.id, c.source, c.call_id, c.status, c.direction, c.from_number,
    c.to_number, c.started_at, c.answered_at, c.ended_at, c.duration_seconds, c.talk_seconds,
    c.disposition, c.outcome, c.failure_reason, c.recording_url,
    array(SELECT q.queue FROM call_queues q WHERE q.source = c.source AND q.call_id = c.call_id
           ORDER BY q.entered_at, q.queue) AS queues,
    array(SELECT DISTINCT l2.extension FROM call_legs l2
           WHERE l2.source = c.source AND l2.call_id = c.call_id
             AND l2.extension IS NOT NULL ORDER BY 1) AS extensions";

/// A bound value of the search.
enum Bind<'a> {
    Text(&'a str),
    Time(DateTime<Utc>),
    Int(i64),
}

/// The search's SQL and what it binds, built from the filters given only
/// (so that the planner sees which index serves them).
struct Search<'a> {
    sql: String,
    binds: Vec<Bind<'a>>,
}

impl<'a> Search<'a> {
    /// Binds `b`; returns its placeholder.
    fn param(&mut self, b: Bind<'a>) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// Adds ` AND <cond>`, where `cond` names the value `b` as `{}`.
    fn and(&mut self, cond: &str, b: Bind<'a>) {
        let p = self.param(b);
        self.sql += " AND ";
        self.sql += &cond.replace("{}", &p);
    }
}

/// One page of the calls matching `f`, newest first (by start, then id). A
/// search by extension reads the extension's legs (each with its call's
/// start and outcome) in order from `call_legs_by_extension` and looks up
/// only the calls it shows; a call in which the extension had two legs is
/// shown once (such a page may hold fewer than `limit` calls and still
/// have a next one).
pub async fn history(
    conn: &mut AsyncPgConnection,
    f: &HistoryFilter,
) -> Result<HistoryPage, diesel::result::Error> {
    let limit = f.limit.clamp(1, MAX_PAGE);
    let mut s = Search {
        sql: String::new(),
        binds: Vec::new(),
    };
    // The table the search is driven from, with its start column and where
    // its outcome is.
    let (start, outcome) = match f.extension.as_deref() {
        Some(e) => {
            s.sql = format!(
                "SELECT {COLUMNS}, l.call_start AS start FROM call_legs l
                   JOIN calls c ON c.source = l.source AND c.call_id = l.call_id
                  WHERE l.call_start IS NOT NULL"
            );
            s.and("l.extension = {}", Bind::Text(e));
            if let Some(src) = f.source.as_deref() {
                s.and("l.source = {}", Bind::Text(src));
            }
            ("l.call_start", "l.call_outcome")
        }
        None => {
            s.sql = format!("SELECT {COLUMNS}, {START} AS start FROM calls c WHERE true");
            if let Some(src) = f.source.as_deref() {
                s.and("c.source = {}", Bind::Text(src));
            }
            (START, "c.outcome")
        }
    };
    if let Some(n) = f.number.as_deref() {
        s.and("(c.from_number = {} OR c.to_number = {})", Bind::Text(n));
    }
    if let Some(q) = f.queue.as_deref() {
        let in_source = if f.source.is_some() {
            " AND q.source = c.source"
        } else {
            ""
        };
        s.and(
            &format!(
                "(c.source, c.call_id) IN (SELECT q.source, q.call_id FROM call_queues q
                                            WHERE q.queue = {{}}{in_source})"
            ),
            Bind::Text(q),
        );
    }
    if let Some(o) = f.outcome.as_deref() {
        s.and(&format!("{outcome} = {{}}"), Bind::Text(o));
    }
    if let Some(t) = f.since {
        s.and(&format!("{start} >= {{}}"), Bind::Time(t));
    }
    if let Some(t) = f.until {
        s.and(&format!("{start} < {{}}"), Bind::Time(t));
    }
    if let Some(c) = f.after {
        let t = s.param(Bind::Time(c.start));
        let id = s.param(Bind::Int(c.id));
        // The first bound lets the index stop; the row comparison breaks ties.
        s.sql += &format!(" AND {start} <= {t} AND ({start}, c.id) < ({t}, {id})");
    }
    let l = s.param(Bind::Int(limit + 1));
    s.sql += &format!(" ORDER BY {start} DESC, c.id DESC LIMIT {l}");
    let mut q = diesel::sql_query(s.sql).into_boxed::<Pg>();
    for b in s.binds {
        q = match b {
            Bind::Text(v) => q.bind::<Text, _>(v),
            Bind::Time(t) => q.bind::<Timestamptz, _>(t),
            Bind::Int(i) => q.bind::<BigInt, _>(i),
        };
    }
    let rows: Vec<HistoryCall> = q.load(conn).await?;
    let more = rows.len() as i64 > limit;
    // A call comes twice only from two legs of one extension: next to each
    // other (same start and id).
    let mut calls: Vec<HistoryCall> = Vec::with_capacity(rows.len());
    for r in rows {
        if calls.last().is_none_or(|l| l.id != r.id) {
            calls.push(r);
        }
    }
    calls.truncate(limit as usize);
    let next = if more {
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
