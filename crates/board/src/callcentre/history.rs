//! `GET /api/calls`: without history parameters, the recent or active
//! calls (`routes::api_calls`, as before); with any of `number`,
//! `extension`, `queue`, `disposition`, `since`, `until`, `after` or
//! `format`, a search of the history (`domain::projection::read::history`:
//! keyset pages, newest first), as JSON `{"calls", "next"}` or as CSV
//! (`format=csv`, up to [`EXPORT_MAX`] calls). Every parameter is checked
//! here, before any query.

use actix_web::http::header;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::projection::read::{self, Cursor, HistoryFilter};
use serde::Deserialize;

use super::api::{key, number, query};
use crate::auth;
use crate::error::BoardError;
use crate::input;
use crate::routes::{self, CallsQuery};
use crate::State;

/// The most calls one page holds (as `read::history` has it).
pub const MAX_PAGE: i64 = 1000;
/// The most calls one CSV export holds; past it the answer carries the
/// cursor of the rest in `X-Next-Cursor`.
pub const EXPORT_MAX: i64 = 10_000;
/// Calls per page when `limit` is not given.
const PAGE_DEFAULT: i64 = 50;
/// The dispositions a search can ask for (`calls.outcome`).
pub const DISPOSITIONS: [&str; 6] = [
    "answered",
    "abandoned",
    "no_answer",
    "busy",
    "failed",
    "voicemail",
];

#[derive(Deserialize, Default)]
struct HistoryQuery {
    active: Option<bool>,
    source: Option<String>,
    limit: Option<u32>,
    number: Option<String>,
    extension: Option<String>,
    queue: Option<String>,
    disposition: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    format: Option<String>,
}

impl HistoryQuery {
    /// Whether any history parameter is given.
    fn is_search(&self) -> bool {
        [
            &self.number,
            &self.extension,
            &self.queue,
            &self.disposition,
            &self.since,
            &self.until,
            &self.after,
            &self.format,
        ]
        .iter()
        .any(|v| v.is_some())
    }
}

/// Empty parameters (an empty form field) count as not given.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// An RFC 3339 time given as parameter `what` (400 otherwise).
pub fn time(what: &str, v: &str) -> Result<DateTime<Utc>, BoardError> {
    if !input::is_text(v, 64) {
        return Err(BoardError::BadRequest(format!("invalid {what}")));
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            BoardError::BadRequest(format!(
                "invalid {what}: an RFC 3339 time, e.g. 2026-12-07T09:00:00Z"
            ))
        })
}

/// The search `q` asks for (400 for any bad value); `csv` when CSV.
fn filter(q: &HistoryQuery) -> Result<(HistoryFilter, bool), BoardError> {
    if q.active.is_some() {
        return Err(BoardError::BadRequest(
            "active cannot be combined with history parameters".into(),
        ));
    }
    let csv = match given(&q.format) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(BoardError::BadRequest("invalid format: json or csv".into())),
    };
    let disposition = given(&q.disposition)
        .map(|d| {
            DISPOSITIONS
                .iter()
                .find(|x| **x == d)
                .map(|x| (*x).to_string())
                .ok_or_else(|| {
                    BoardError::BadRequest(format!(
                        "invalid disposition: one of {}",
                        DISPOSITIONS.join(", ")
                    ))
                })
        })
        .transpose()?;
    let since = given(&q.since).map(|v| time("since", v)).transpose()?;
    let until = given(&q.until).map(|v| time("until", v)).transpose()?;
    let after = given(&q.after)
        .map(|v| {
            if !input::is_text(v, 64) {
                return Err(BoardError::BadRequest("invalid after".into()));
            }
            v.parse::<Cursor>()
                .map_err(|e| BoardError::BadRequest(format!("invalid after: {e}")))
        })
        .transpose()?;
    let limit = match q.limit {
        Some(n) if n == 0 || i64::from(n) > MAX_PAGE => {
            return Err(BoardError::BadRequest(format!(
                "invalid limit: 1 to {MAX_PAGE}"
            )))
        }
        Some(n) => i64::from(n),
        None => PAGE_DEFAULT,
    };
    let f = HistoryFilter {
        source: input::optional_source(given(&q.source))?.map(str::to_string),
        number: given(&q.number)
            .map(number)
            .transpose()?
            .map(str::to_string),
        extension: given(&q.extension)
            .map(|v| key("extension", v))
            .transpose()?
            .map(str::to_string),
        queue: given(&q.queue)
            .map(|v| key("queue", v))
            .transpose()?
            .map(str::to_string),
        outcome: disposition,
        since,
        until,
        after,
        limit,
    };
    Ok((f, csv))
}

/// `GET /api/calls` (see the module documentation).
pub async fn api_calls(
    req: HttpRequest,
    state: web::Data<State>,
) -> Result<HttpResponse, BoardError> {
    let q: HistoryQuery = query(&req)?;
    if !q.is_search() {
        let old = web::Query::<CallsQuery>::from_query(req.query_string())
            .map_err(|e| BoardError::BadRequest(format!("bad query: {e}")))?;
        return routes::api_calls(req, state, old).await;
    }
    let reader = auth::require_reader(&req, &state).await?;
    let (mut f, csv) = filter(&q)?;
    tracing::debug!(%reader, csv, "history searched");
    let mut conn = state.conn().await?;
    if !csv {
        let page = read::history(&mut conn, &f).await?;
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(page));
    }
    // CSV: pages of the largest size, up to EXPORT_MAX calls.
    let mut budget = if q.limit.is_some() {
        f.limit
    } else {
        EXPORT_MAX
    };
    let mut out = super::csv::header();
    let mut next = None;
    while budget > 0 {
        f.limit = budget.min(MAX_PAGE);
        let page = read::history(&mut conn, &f).await?;
        budget -= page.calls.len() as i64;
        for c in &page.calls {
            super::csv::row(&mut out, c);
        }
        next = page.next;
        match page.next {
            Some(c) if !page.calls.is_empty() => f.after = Some(c),
            _ => break,
        }
    }
    let mut r = HttpResponse::Ok();
    r.content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"calls.csv\"",
        ));
    if let Some(c) = next {
        r.insert_header(("X-Next-Cursor", c.to_string()));
    }
    Ok(r.body(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(f: impl FnOnce(&mut HistoryQuery)) -> HistoryQuery {
        let mut q = HistoryQuery::default();
        f(&mut q);
        q
    }

    #[test]
    fn a_search_is_any_history_parameter() {
        assert!(!q(|_| ()).is_search());
        assert!(!q(|q| q.limit = Some(3)).is_search());
        assert!(q(|q| q.queue = Some("6405".into())).is_search());
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            q(|q| q.disposition = Some("lost".into())),
            q(|q| q.since = Some("yesterday".into())),
            q(|q| q.until = Some("2026-12-07T09:00:00Z\0".into())),
            q(|q| q.after = Some("x.1".into())),
            q(|q| q.number = Some("+1\0".into())),
            q(|q| q.extension = Some("a b".into())),
            q(|q| q.queue = Some("q".repeat(65))),
            q(|q| q.format = Some("xml".into())),
            q(|q| {
                q.format = Some("csv".into());
                q.limit = Some(1001);
            }),
            q(|q| {
                q.format = Some("csv".into());
                q.active = Some(true);
            }),
        ] {
            assert!(filter(&bad).is_err());
        }
        let (f, csv) = filter(&q(|q| {
            q.disposition = Some("abandoned".into());
            q.since = Some("2026-12-07T09:00:00+01:00".into());
            q.number = Some(String::new());
            q.format = Some("csv".into());
        }))
        .expect("valid");
        assert!(csv);
        assert_eq!(f.outcome.as_deref(), Some("abandoned"));
        assert_eq!(f.number, None, "an empty field is no filter");
        assert_eq!(
            f.since.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-07T08:00:00+00:00")
        );
    }
}
