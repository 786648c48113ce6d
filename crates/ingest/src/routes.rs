//! The public route: `POST /webhooks/{source}` (verify, store, answer).
//! The probes are telemetry's (`/healthz`, and the operators' server).

use std::sync::Arc;

use actix_web::http::header::{ContentType, HeaderMap, CONTENT_LENGTH};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use domain::signature::{self, SignedHeaders, VerifyOptions};
use futures_util::StreamExt;
use store::inbox::NewEvent;
use telemetry::client_ip;

use crate::allowlist::allowed;
use crate::batcher::SubmitError;
use crate::{IngestError, State};

/// Everything on the public port but `/healthz`: `POST /webhooks/{source}`
/// goes to [`receive`], the rest is 404. Matched by prefix here rather than
/// by a route with a `{source}` segment: the router matches those with a
/// regular expression, about 4% of ingest's instructions per webhook
/// (callgrind).
pub async fn public(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    match req.path().strip_prefix("/webhooks/") {
        Some(name) if req.method() == Method::POST => receive(name, &req, payload, &state).await,
        _ => telemetry::not_found().await,
    }
}

/// `POST /webhooks/{source}`: answers 200 once the event is committed (or
/// was already), else the refusal; counts the outcome.
async fn receive(
    name: &str,
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
) -> HttpResponse {
    let started = std::time::Instant::now();
    // Only a source that exists may name a metrics label or a log field:
    // the slug is the stranger's, and could be anything (newlines included).
    let mut known = None;
    let result = handle(name, req, payload, state, &mut known).await;
    let (outcome, response) = match result {
        Ok((id, duplicate)) => {
            tracing::debug!(
                source = known.as_deref().unwrap_or(""),
                id,
                duplicate,
                "accepted"
            );
            let status = if duplicate { "duplicate" } else { "accepted" };
            (
                status,
                // The answer as text: no JSON value built per request.
                HttpResponse::Ok()
                    .content_type(ContentType::json())
                    .body(format!(r#"{{"id":{id},"status":"{status}"}}"#)),
            )
        }
        Err(e) => {
            if !matches!(e, IngestError::Unavailable) {
                let _g = match &known {
                    Some(source) => tracing::info_span!("webhook", source = %source),
                    None => tracing::info_span!("webhook", slug = ?truncated(name)),
                }
                .entered();
                tracing::info!(status = e.status_code().as_u16(), error = e.code(), reason = ?e.to_string(), "refused");
            }
            (e.code(), e.error_response())
        }
    };
    let source = match known {
        Some(name) => metrics::SharedString::from(name),
        None => metrics::SharedString::const_str("unknown"),
    };
    metrics::counter!("switchboard_ingest_requests_total", "source" => source, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("switchboard_ingest_request_duration_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    response
}

/// At most 64 characters of a stranger's string, for a log line.
fn truncated(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Verifies and stores one webhook, in the order that costs a stranger
/// least: the slug's shape, the source (before any body is read), the body
/// (bounded in size and time), the signature, the insert. Sets `known` to
/// the source's name once it exists. Returns the event's id and whether it
/// was a duplicate.
async fn handle(
    name: &str,
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
    known: &mut Option<Arc<str>>,
) -> Result<(i64, bool), IngestError> {
    if !store::sources::valid_name(name) {
        return Err(IngestError::NoSource);
    }
    let found = state
        .sources
        .get(name)
        .await?
        .ok_or(IngestError::NoSource)?;
    let src = &*found.verifier;
    *known = Some(found.name.clone());
    if let Some(networks) = src.allowed_networks.as_deref() {
        let sender = client_ip(req, &state.cfg.trusted_proxies);
        if !allowed(sender, Some(networks)) {
            tracing::info!(sender = ?sender, "sender outside the source's allowed networks");
            return Err(IngestError::Forbidden);
        }
    }
    let body = tokio::time::timeout(
        state.cfg.body_timeout,
        read_body(req, payload, state.cfg.max_body_bytes),
    )
    .await
    .map_err(|_| IngestError::BodyTimeout(state.cfg.body_timeout))??;
    let h = req.headers();
    let signed = SignedHeaders {
        x_signature: header(h, "x-signature"),
        webhook_id: header(h, "webhook-id"),
        webhook_timestamp: header(h, "webhook-timestamp"),
        webhook_signature: header(h, "webhook-signature"),
    };
    let opts = VerifyOptions {
        timestamp_tolerance_secs: i64::try_from(state.cfg.timestamp_tolerance.as_secs())
            .unwrap_or(i64::MAX),
        now_unix: chrono::Utc::now().timestamp(),
        jwt_leeway_secs: i64::try_from(state.cfg.jwt_leeway.as_secs()).unwrap_or(i64::MAX),
        allow_unsigned: src.allow_unsigned,
    };
    let verified = signature::verify(src.provider, &src.secrets, &signed, &body, &opts)?;
    let event = NewEvent {
        source: name.to_string(),
        provider: src.provider,
        dedup_key: verified.dedup_key,
        body,
        headers: kept_headers(req),
    };
    // Answered only once the transaction holding the row has committed.
    match tokio::time::timeout(state.cfg.db_timeout, state.batcher.submit(event)).await {
        Err(_) => Err(IngestError::unavailable("insert timed out")),
        Ok(Ok(stored)) => Ok(stored),
        Ok(Err(SubmitError::Rejected(e))) => {
            tracing::warn!(error = %e, "the database refused the event");
            Err(IngestError::Rejected)
        }
        Ok(Err(SubmitError::Store(e))) => Err(IngestError::db_unavailable(&e)),
        Ok(Err(e)) => Err(IngestError::unavailable(e)),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The request headers worth keeping with the body.
const KEPT: [&str; 6] = [
    "content-type",
    "user-agent",
    "x-forwarded-for",
    "x-request-id",
    "webhook-id",
    "webhook-timestamp",
];

/// The request headers worth keeping with the body (each one's first
/// value) and the peer's address, as a JSON object's text written straight
/// into one string: one pass over the request's headers, no map or JSON
/// value per request.
fn kept_headers(req: &HttpRequest) -> String {
    let mut out = String::with_capacity(160);
    out.push('{');
    let mut field = |name: &str, value: &str| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        json_string(&mut out, value);
    };
    let mut seen = [false; KEPT.len()];
    for (name, value) in req.headers().iter() {
        let Some(k) = KEPT.iter().position(|k| *k == name.as_str()) else {
            continue;
        };
        if let (false, Ok(v)) = (seen[k], value.to_str()) {
            seen[k] = true;
            field(KEPT[k], v);
        }
    }
    if let Some(addr) = req.peer_addr() {
        field("remote-addr", &addr.ip().to_string());
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string (quoted and escaped).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads the body, refusing it as soon as it is over `limit`. Returns it,
/// read straight into the buffer the event keeps (sized from
/// `Content-Length`, at most [`BODY_PREALLOC`] ahead of the bytes: a
/// stranger's header alone reserves little).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let declared = header(req.headers(), CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
    if declared.is_some_and(|len: usize| len > limit) {
        return Err(IngestError::TooLarge(limit));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(BODY_PREALLOC));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| IngestError::BadRequest(format!("reading body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The most [`read_body`] reserves before the bytes arrive.
const BODY_PREALLOC: usize = 64 * 1024;
