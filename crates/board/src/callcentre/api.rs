//! `GET /api/queues`, `GET /api/agents`, `GET /api/missed-calls` (a session
//! or a token) and `POST /api/missed-calls/done` (operators, same origin,
//! audited): the call centre as JSON, read from the database when asked
//! (so that waits are as of the answer).

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::projection::read;
use serde::Deserialize;
use store::users;

use crate::auth;
use crate::error::BoardError;
use crate::input;
use crate::State;

type Data = web::Data<State>;

/// The longest queue name or agent number accepted (bytes).
pub const MAX_KEY_LEN: usize = 64;
/// The longest phone number accepted (bytes).
pub const MAX_NUMBER_LEN: usize = 64;
/// Missed-call entries answered by default, and at most.
const MISSED_DEFAULT: i64 = 200;
const MISSED_MAX: i64 = 1000;

/// A query string as `T`, or 400 `bad query: ...` (a value of the wrong
/// type, a parameter twice).
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, BoardError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| BoardError::BadRequest(format!("bad query: {e}")))
}

/// A key (queue, agent, extension): 1 to [`MAX_KEY_LEN`] bytes of text
/// without spaces; 400 `invalid <what>` otherwise.
pub fn key<'a>(what: &str, value: &'a str) -> Result<&'a str, BoardError> {
    if value.is_empty() || !input::is_text(value, MAX_KEY_LEN) || value.contains(' ') {
        return Err(BoardError::BadRequest(format!("invalid {what}")));
    }
    Ok(value)
}

/// A phone number: 1 to [`MAX_NUMBER_LEN`] bytes of text; 400 `invalid
/// number` otherwise.
pub fn number(value: &str) -> Result<&str, BoardError> {
    if value.trim().is_empty() || !input::is_text(value, MAX_NUMBER_LEN) {
        return Err(BoardError::BadRequest("invalid number".into()));
    }
    Ok(value)
}

#[derive(Deserialize)]
struct SourceQuery {
    source: Option<String>,
}

/// `GET /api/queues[?source=S]`: every queue with its figures now
/// (`domain::projection::read::QueueView`), and the calls waiting, the
/// longest-waiting first: `{"queues": [...], "waiting": [...]}`.
pub async fn queues(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let reader = auth::require_reader(&req, &state).await?;
    let q: SourceQuery = query(&req)?;
    let source = input::optional_source(q.source.as_deref())?;
    tracing::debug!(%reader, "queues read");
    let mut conn = state.conn().await?;
    let queues = read::queues(&mut conn, source, None).await?;
    let waiting = read::waiting_calls(&mut conn, source, None).await?;
    Ok(no_store().json(serde_json::json!({ "queues": queues, "waiting": waiting })))
}

/// `GET /api/agents[?source=S]`: every agent the sources report, with its
/// state now (`domain::projection::read::AgentView`).
pub async fn agents(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let reader = auth::require_reader(&req, &state).await?;
    let q: SourceQuery = query(&req)?;
    let source = input::optional_source(q.source.as_deref())?;
    tracing::debug!(%reader, "agents read");
    let mut conn = state.conn().await?;
    let agents = read::agents(&mut conn, source, None).await?;
    Ok(no_store().json(agents))
}

#[derive(Deserialize)]
struct MissedQuery {
    source: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/missed-calls[?source=S][&limit=N]`: the open entries, the
/// latest missed first; `limit` 200 by default, clamped to 1-1,000.
pub async fn missed(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let reader = auth::require_reader(&req, &state).await?;
    let q: MissedQuery = query(&req)?;
    let source = input::optional_source(q.source.as_deref())?;
    let limit = q
        .limit
        .map_or(MISSED_DEFAULT, i64::from)
        .clamp(1, MISSED_MAX);
    tracing::debug!(%reader, "missed calls read");
    let mut conn = state.conn().await?;
    let list = read::missed_calls(&mut conn, source, None, limit).await?;
    Ok(no_store().json(list))
}

#[derive(Deserialize)]
struct DoneBody {
    source: String,
    number: String,
    /// Up to which missed call (its start) the operator saw; absent: all.
    through: Option<DateTime<Utc>>,
}

/// `POST /api/missed-calls/done` with `{"source", "number"[, "through"]}`:
/// operators only, same origin only, a session (not a token). Marks the
/// entry done (`store::missed::mark_done`, audited in
/// `missed_call_actions`): 200 `{"result", "done"}`; 404 when the entry
/// is not on the list; a missed call after `through` keeps it listed.
pub async fn mark_done(
    req: HttpRequest,
    state: Data,
    body: Bytes,
) -> Result<HttpResponse, BoardError> {
    auth::check_origin(&req, state.cfg.public_origin.as_deref())?;
    let s = auth::require_session(&req, &state).await?;
    let b = serde_json::from_slice::<DoneBody>(&body)
        .map_err(|_| BoardError::BadRequest(r#"send {"source": "...", "number": "..."}"#.into()))?;
    let source = input::source(&b.source)?;
    let number = number(&b.number)?;
    // Operators and supervisors (who may do whatever an operator may).
    if !s.role.may(users::Role::Operator) {
        tracing::info!(user = %s.name, source, number, "missed call not marked done: not an operator");
        return Err(BoardError::Forbidden(
            "only operators may mark missed calls done",
        ));
    }
    let mut conn = state.conn().await?;
    let done = store::missed::mark_done(&mut conn, &s.name, source, number, b.through)
        .await
        .map_err(|e| match e {
            store::missed::MarkError::NotListed { .. } => BoardError::NotFound(
                "this number is not on the missed calls list (it may have been called back)".into(),
            ),
            store::missed::MarkError::Query(e) => e.into(),
        })?;
    // Every board (this one too) hears of it through the change feed.
    let changed = domain::projection::Changed {
        missed: vec![(done.source.clone(), done.number.clone())],
        ..Default::default()
    };
    if let Err(e) = store::changes::notify(&mut conn, &changed).await {
        tracing::warn!(error = %e, "missed call marked done, but not announced: boards show it until their next reload");
    }
    metrics::counter!("switchboard_board_missed_done_total").increment(1);
    tracing::info!(user = %s.name, source, number, cleared = done.cleared, left = done.left, "missed call marked done");
    let result = if done.left > 0 {
        format!(
            "marked done; {} missed call(s) since then keep it listed",
            done.left
        )
    } else {
        "marked done".to_string()
    };
    Ok(no_store().json(serde_json::json!({ "result": result, "done": done })))
}

use crate::pages::no_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_numbers_are_bounded_text() {
        assert!(key("queue", "6405").is_ok());
        for bad in ["", "a b", "a\0", &"1".repeat(MAX_KEY_LEN + 1)] {
            assert!(key("queue", bad).is_err(), "{bad:?}");
        }
        assert!(number("+15555550101").is_ok());
        for bad in ["", " ", "1\n", "\u{0}", &"1".repeat(MAX_NUMBER_LEN + 1)] {
            assert!(number(bad).is_err(), "{bad:?}");
        }
    }
}
