//! The console's **In**: `GET /api/console/events` (search),
//! `GET /api/console/events/{id}` (one event: the body pretty-printed, the
//! kept headers without secrets, its result or error),
//! `POST /api/console/events/{id}/replay` (one dead event) and
//! `POST /api/console/replay-dead` (every dead event of a source): the
//! replays are `worker replay`'s (`store::inbox::replay`), audited.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use diesel_async::AsyncConnection;
use serde::Deserialize;
use store::console::Action;
use store::inbox::{self, EventFilter, ReplayFilter, OUTCOMES};

use super::{acting_operator, body, limit, no_store, operator, Data};
use crate::callcentre::api::query;
use crate::callcentre::history::time;
use crate::error::BoardError;
use crate::input;

/// Events per page when `limit` is not given, and at most.
const PAGE_DEFAULT: i64 = 50;
const PAGE_MAX: i64 = 200;
/// The longest event type accepted (bytes).
const MAX_TYPE_LEN: usize = 100;
/// The largest body shown (bytes); the rest is cut.
const MAX_BODY_SHOWN: usize = 256 * 1024;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    source: Option<String>,
    event_type: Option<String>,
    call_id: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// Empty parameters (an empty form field) count as not given.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The search `q` asks for; 400 for any bad value.
fn filter(q: &SearchQuery) -> Result<EventFilter, BoardError> {
    let event_type = given(&q.event_type)
        .map(|v| {
            if input::is_text(v, MAX_TYPE_LEN) {
                Ok(v.to_string())
            } else {
                Err(BoardError::BadRequest("invalid event_type".into()))
            }
        })
        .transpose()?;
    let call_id = given(&q.call_id)
        .map(|v| {
            if input::is_text(v, input::MAX_ID_LEN) {
                Ok(v.to_string())
            } else {
                Err(BoardError::BadRequest("invalid call_id".into()))
            }
        })
        .transpose()?;
    let outcome = given(&q.outcome)
        .map(|v| {
            OUTCOMES
                .iter()
                .find(|o| **o == v)
                .map(|o| (*o).to_string())
                .ok_or_else(|| {
                    BoardError::BadRequest(format!(
                        "invalid outcome: one of {}",
                        OUTCOMES.join(", ")
                    ))
                })
        })
        .transpose()?;
    if q.before.is_some_and(|b| b < 1) {
        return Err(BoardError::BadRequest("invalid before".into()));
    }
    Ok(EventFilter {
        source: input::optional_source(given(&q.source))?.map(str::to_string),
        event_type,
        call_id,
        outcome,
        since: given(&q.since).map(|v| time("since", v)).transpose()?,
        until: given(&q.until).map(|v| time("until", v)).transpose()?,
        before: q.before,
        limit: limit(q.limit, PAGE_DEFAULT, PAGE_MAX)?,
    })
}

/// `GET /api/console/events?source&event_type&call_id&outcome&since&until&before&limit`:
/// `{"events": [...], "next": <id for before> | null}`, newest first.
pub async fn search(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let s = operator(&req, &state).await?;
    let q: SearchQuery = query(&req)?;
    let f = filter(&q)?;
    tracing::debug!(user = %s.name, "console: inbox searched");
    let mut conn = state.conn().await?;
    let events = inbox::search(&mut conn, &f).await?;
    let next = (events.len() as i64 == f.limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(no_store().json(serde_json::json!({ "events": events, "next": next })))
}

/// An event id given in the path: 400 unless a positive integer.
fn event_id(v: &str) -> Result<i64, BoardError> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| BoardError::BadRequest("invalid event id".into()))
}

/// Whether a kept header may hold a secret (a signature, a credential): it
/// is never shown. Ingest keeps none of them today; this holds should it
/// keep more.
pub fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "signature",
        "authorization",
        "cookie",
        "secret",
        "token",
        "key",
        "password",
        "jwt",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// The body for reading: pretty-printed JSON when it is JSON (a Dialpad
/// JWT's verified claims when it is one), else the text as received.
/// Returns the text and its format (`json`, `jwt`, `text`, `binary`).
pub fn pretty_body(provider: Option<&str>, body: &[u8]) -> (String, &'static str) {
    let json = |b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(b)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
    };
    if let Some(p) = json(body) {
        return (p, "json");
    }
    if provider == Some("dialpad") {
        if let Some(p) = domain::signature::dialpad_claims(body)
            .ok()
            .and_then(|c| json(c.as_ref()))
        {
            return (p, "jwt");
        }
    }
    let cut = &body[..body.len().min(MAX_BODY_SHOWN)];
    match std::str::from_utf8(cut) {
        Ok(t) => (t.to_string(), "text"),
        Err(_) => (String::from_utf8_lossy(cut).into_owned(), "binary"),
    }
}

/// `GET /api/console/events/{id}`: the event (as in a search) with
/// `body` (pretty-printed), `body_format`, `headers` (without secrets),
/// `next_attempt_at`, `dead_at` and `replayable`; 404 when not stored.
pub async fn event(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, BoardError> {
    let s = operator(&req, &state).await?;
    let id = event_id(&path)?;
    let mut conn = state.conn().await?;
    let e = inbox::event(&mut conn, id)
        .await?
        .ok_or_else(|| BoardError::NotFound("no such event (it may have been pruned)".into()))?;
    tracing::debug!(user = %s.name, id, "console: event read");
    let mut out = serde_json::to_value(e.row()).unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = match e.headers {
        serde_json::Value::Object(m) => m.into_iter().filter(|(k, _)| !secret_header(k)).collect(),
        _ => serde_json::Map::new(),
    };
    let (body, format) = pretty_body(e.provider.as_deref(), &e.body);
    let replayable = e.outcome == "dead";

    if let serde_json::Value::Object(m) = &mut out {
        m.insert("body".into(), body.into());
        m.insert("body_format".into(), format.into());
        m.insert("body_bytes".into(), e.body.len().into());
        m.insert("headers".into(), headers.into());
        m.insert(
            "next_attempt_at".into(),
            serde_json::to_value(e.next_attempt_at).unwrap_or_default(),
        );
        m.insert(
            "dead_at".into(),
            serde_json::to_value(e.dead_at).unwrap_or_default(),
        );
        m.insert("replayable".into(), replayable.into());
    }
    Ok(no_store().json(out))
}

/// Re-queues the dead events `filter` selects and audits it, in one
/// transaction; wakes the workers. Returns how many.
async fn replay_audited(
    state: &Data,
    user: &str,
    action: Action,
    target: &str,
    filter: ReplayFilter,
) -> Result<usize, BoardError> {
    let mut conn = state.conn().await?;
    let n = conn
        .transaction::<usize, store::Error, _>(async |c| {
            let n = inbox::replay(c, &filter).await?;
            store::console::record(c, user, action, target, n as i64).await?;
            Ok(n)
        })
        .await?;
    if n > 0 {
        if let Err(e) = inbox::wake(&mut conn).await {
            tracing::warn!(error = %e, "replayed, but the workers were not woken: they claim at their next poll");
        }
    }
    metrics::counter!("switchboard_board_console_actions_total", "action" => action.as_str())
        .increment(1);
    tracing::info!(
        user,
        action = action.as_str(),
        target,
        events = n,
        "console: replayed"
    );
    Ok(n)
}

/// `POST /api/console/events/{id}/replay`: re-queues event `id` when it is
/// dead (`{"replayed": 1}`); 404 when not stored, 409 when not dead.
pub async fn replay(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, BoardError> {
    let s = acting_operator(&req, &state).await?;
    let id = event_id(&path)?;
    {
        let mut conn = state.conn().await?;
        let e = inbox::event(&mut conn, id).await?.ok_or_else(|| {
            BoardError::NotFound("no such event (it may have been pruned)".into())
        })?;
        if e.outcome != "dead" {
            return Err(BoardError::Conflict(format!(
                "only dead events are replayed; this one is {}",
                e.outcome
            )));
        }
    }
    let filter = ReplayFilter {
        ids: vec![id],
        ..Default::default()
    };
    let n = replay_audited(&state, &s.name, Action::Replay, &id.to_string(), filter).await?;
    if n == 0 {
        return Err(BoardError::Conflict(
            "this event is no longer dead (replayed meanwhile?)".into(),
        ));
    }
    Ok(no_store().json(serde_json::json!({ "replayed": n })))
}

#[derive(Deserialize)]
struct ReplayDeadBody {
    source: String,
}

/// `POST /api/console/replay-dead` with `{"source": "..."}`: re-queues
/// every dead event of the source: `{"replayed": N}` (0 when none).
pub async fn replay_dead(
    req: HttpRequest,
    state: Data,
    bytes: Bytes,
) -> Result<HttpResponse, BoardError> {
    let s = acting_operator(&req, &state).await?;
    let b: ReplayDeadBody = body(&bytes, r#"send {"source": "..."}"#)?;
    let source = input::source(&b.source)?;
    let filter = ReplayFilter {
        source: Some(source.to_string()),
        ..Default::default()
    };
    let n = replay_audited(&state, &s.name, Action::ReplayDead, source, filter).await?;
    Ok(no_store().json(serde_json::json!({ "replayed": n })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(f: impl FnOnce(&mut SearchQuery)) -> SearchQuery {
        let mut q = SearchQuery::default();
        f(&mut q);
        q
    }

    #[test]
    fn bad_searches_are_refused() {
        for bad in [
            q(|q| q.outcome = Some("lost".into())),
            q(|q| q.source = Some("PBX".into())),
            q(|q| q.event_type = Some("a\0".into())),
            q(|q| q.call_id = Some("1".repeat(input::MAX_ID_LEN + 1))),
            q(|q| q.since = Some("yesterday".into())),
            q(|q| q.before = Some(0)),
            q(|q| q.limit = Some(201)),
        ] {
            assert!(filter(&bad).is_err());
        }
        let f = filter(&q(|q| {
            q.outcome = Some("dead".into());
            q.source = Some(String::new());
        }))
        .expect("valid");
        assert_eq!(f.outcome.as_deref(), Some("dead"));
        assert_eq!(f.source, None);
        assert_eq!(f.limit, PAGE_DEFAULT);
    }

    #[test]
    fn secrets_are_not_shown() {
        for h in [
            "X-Signature",
            "webhook-signature",
            "authorization",
            "Cookie",
            "x-api-key",
        ] {
            assert!(secret_header(h), "{h}");
        }
        for h in ["content-type", "user-agent", "webhook-id", "remote-addr"] {
            assert!(!secret_header(h), "{h}");
        }
    }

    #[test]
    fn bodies_are_pretty() {
        let (b, f) = pretty_body(Some("yeastar"), br#"{"event":30011,"call_id":"1.2"}"#);
        assert_eq!(f, "json");
        assert!(b.contains("\n  \"call_id\": \"1.2\""), "{b}");
        let jwt = domain::signature::sign_dialpad("0123456789abcdef", br#"{"call_id":7}"#);
        let (b, f) = pretty_body(Some("dialpad"), jwt.as_bytes());
        assert_eq!(f, "jwt");
        assert!(b.contains("\"call_id\": 7"), "{b}");
        assert_eq!(pretty_body(None, b"hello").1, "text");
        assert_eq!(pretty_body(None, &[0xff, 0x00]).1, "binary");
    }
}
