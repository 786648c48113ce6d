//! The console's **Out**: `GET /api/console/endpoints` (each endpoint with
//! its deliveries counted, never a secret), `GET
//! /api/console/endpoints/{name}/deliveries` (attempts, status, latency,
//! the answer's excerpt), `POST .../resend` (one event again) and `POST
//! .../recover` (every delivery given up since a time): the store
//! functions of `worker endpoint resend` and `recover --since`, audited.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use diesel_async::AsyncConnection;
use serde::Deserialize;
use store::console::Action;
use store::events_out::{self, Resent, STATES};

use super::{acting_operator, body, limit, no_store, operator, Data};
use crate::callcentre::api::query;
use crate::callcentre::history::time;
use crate::error::BoardError;

/// Deliveries per page when `limit` is not given, and at most.
const PAGE_DEFAULT: i64 = 50;
const PAGE_MAX: i64 = 200;

/// `GET /api/console/endpoints`: `[{"name", "url", "types", "source",
/// "enabled", "disabled_reason", "failing_since", "pending", "delivered",
/// "failed"}]`, by name.
pub async fn endpoints(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let s = operator(&req, &state).await?;
    tracing::debug!(user = %s.name, "console: endpoints read");
    let mut conn = state.conn().await?;
    let list: Vec<serde_json::Value> = events_out::list(&mut conn)
        .await?
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "url": e.url,
                "types": e.types,
                "source": e.source,
                "enabled": e.enabled,
                "disabled_reason": e.disabled_reason,
                "failing_since": e.failing_since,
                "pending": e.pending,
                "delivered": e.delivered,
                "failed": e.failed,
            })
        })
        .collect();
    Ok(no_store().json(list))
}

/// An endpoint name given in the path: 400 unless of a name's shape.
fn endpoint(v: &str) -> Result<&str, BoardError> {
    if events_out::valid_name(v) {
        Ok(v)
    } else {
        Err(BoardError::BadRequest("invalid endpoint".into()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    state: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/console/endpoints/{name}/deliveries?state&before&limit`:
/// `{"deliveries": [...], "next": <id for before> | null}`, newest first.
pub async fn deliveries(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, BoardError> {
    let s = operator(&req, &state).await?;
    let name = endpoint(&path)?;
    let q: DeliveriesQuery = query(&req)?;
    let wanted = q
        .state
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| {
            STATES.iter().find(|s| **s == v).copied().ok_or_else(|| {
                BoardError::BadRequest(format!("invalid state: one of {}", STATES.join(", ")))
            })
        })
        .transpose()?;
    if q.before.is_some_and(|b| b < 1) {
        return Err(BoardError::BadRequest("invalid before".into()));
    }
    let n = limit(q.limit, PAGE_DEFAULT, PAGE_MAX)?;
    tracing::debug!(user = %s.name, endpoint = name, "console: deliveries read");
    let mut conn = state.conn().await?;
    let list = events_out::deliveries(&mut conn, name, wanted, q.before, n).await?;
    let next = (list.len() as i64 == n)
        .then(|| list.last().map(|d| d.id))
        .flatten();
    Ok(no_store().json(serde_json::json!({ "deliveries": list, "next": next })))
}

/// Whether `v` has an outbox event id's shape (`evt_` and 32 hex digits).
fn event_id_shaped(v: &str) -> bool {
    v.len() == 36
        && v.starts_with("evt_")
        && v[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(Deserialize)]
struct ResendBody {
    event_id: String,
}

/// `POST /api/console/endpoints/{name}/resend` with `{"event_id":
/// "evt_..."}`: the event is sent to the endpoint again, due now
/// (`{"resent": 1}`); 404 when there is no such endpoint or event, 409
/// while that delivery is being sent.
pub async fn resend(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    bytes: Bytes,
) -> Result<HttpResponse, BoardError> {
    let s = acting_operator(&req, &state).await?;
    let name = endpoint(&path)?;
    let b: ResendBody = body(&bytes, r#"send {"event_id": "evt_..."}"#)?;
    if !event_id_shaped(&b.event_id) {
        return Err(BoardError::BadRequest("invalid event_id".into()));
    }
    let target = format!("{name} {}", b.event_id);
    let mut conn = state.conn().await?;
    let resent = conn
        .transaction::<Resent, store::Error, _>(async |c| {
            let resent = events_out::resend(c, name, &b.event_id).await?;
            if resent == Resent::Queued {
                store::console::record(c, &s.name, Action::Resend, &target, 1).await?;
            }
            Ok(resent)
        })
        .await?;
    match resent {
        Resent::Queued => {}
        Resent::InFlight => {
            return Err(BoardError::Conflict(
                "this delivery is being sent right now; resend it once that attempt is over".into(),
            ))
        }
        Resent::Unknown => {
            return Err(BoardError::NotFound(
                "no such endpoint or event (the event may have been pruned)".into(),
            ))
        }
    }
    woken(&mut conn, Action::Resend).await;
    tracing::info!(user = %s.name, endpoint = name, event_id = %b.event_id, "console: resend requested");
    Ok(no_store().json(serde_json::json!({ "resent": 1 })))
}

#[derive(Deserialize)]
struct RecoverBody {
    since: String,
}

/// `POST /api/console/endpoints/{name}/recover` with `{"since": RFC 3339}`:
/// every delivery to the endpoint given up since then is sent again:
/// `{"recovered": N}`; 404 when there is no such endpoint.
pub async fn recover(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    bytes: Bytes,
) -> Result<HttpResponse, BoardError> {
    let s = acting_operator(&req, &state).await?;
    let name = endpoint(&path)?;
    let b: RecoverBody = body(&bytes, r#"send {"since": "2026-12-07T09:00:00Z"}"#)?;
    let since = time("since", &b.since)?;
    let mut conn = state.conn().await?;
    if !events_out::list(&mut conn)
        .await?
        .iter()
        .any(|e| e.name == name)
    {
        return Err(BoardError::NotFound("no such endpoint".into()));
    }
    let target = format!("{name} since {}", since.to_rfc3339());
    let n = conn
        .transaction::<usize, store::Error, _>(async |c| {
            let n = events_out::recover(c, name, since).await?;
            store::console::record(c, &s.name, Action::Recover, &target, n as i64).await?;
            Ok(n)
        })
        .await?;
    woken(&mut conn, Action::Recover).await;
    tracing::info!(user = %s.name, endpoint = name, %since, deliveries = n, "console: recovery requested");
    Ok(no_store().json(serde_json::json!({ "recovered": n })))
}

/// Wakes the delivery workers and counts the action.
async fn woken(conn: &mut diesel_async::AsyncPgConnection, action: Action) {
    if let Err(e) = events_out::wake(conn).await {
        tracing::warn!(error = %e, "deliveries due, but the delivery workers were not woken: they claim at their next poll");
    }
    metrics::counter!("switchboard_board_console_actions_total", "action" => action.as_str())
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_checked() {
        assert!(endpoint("crm-1").is_ok());
        assert!(endpoint("CRM").is_err());
        assert!(endpoint("a\0").is_err());
        assert!(event_id_shaped("evt_0123456789abcdef0123456789abcdef"));
        for bad in [
            "evt_0123456789ABCDEF0123456789abcdef",
            "evt_0123",
            "evt_0123456789abcdef0123456789abcdeg",
            "",
        ] {
            assert!(!event_id_shaped(bad), "{bad}");
        }
    }
}
