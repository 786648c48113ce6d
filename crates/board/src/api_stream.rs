//! `GET /api/stream`: the normalized events (docs/events.md) as Server-Sent
//! Events, for API tokens with the stream scope. Each message is `id:` (the
//! position), `event:` (the type), `data:` (the event body). `Last-Event-ID`
//! resumes after a position, within the outbox's retention. Events are read
//! from the outbox (only transactions that are over, in an order that never
//! skips one committing later), polled while idle; a comment keeps the
//! connection alive; the stream ends when the token loses its scope or is
//! revoked (checked every 30 s), or when the database fails (the client
//! reconnects with its `Last-Event-ID`).

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use store::access;
use tokio::time::Instant;

use crate::error::BoardError;
use crate::{auth, input, State};

/// Events read at once.
const PAGE: i64 = 500;
/// Wait between reads while nothing is new.
const POLL: Duration = Duration::from_millis(250);
/// A comment after this long without a message.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often the token is checked again.
const RECHECK: Duration = Duration::from_secs(30);

/// `GET /api/stream`: 401 without a valid API token, 403 for a token
/// without the stream scope; else the stream.
pub async fn stream(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, BoardError> {
    let token = auth::bearer(&req)
        .map(str::to_string)
        .ok_or(BoardError::Unauthorized)?;
    {
        let mut conn = state.conn().await?;
        access::token(&mut conn, &token)
            .await?
            .ok_or(BoardError::Unauthorized)?;
        access::stream_scope(&mut conn, &token)
            .await?
            .ok_or(BoardError::Forbidden(
                "this API token has no stream scope (worker token add NAME --stream)",
            ))?;
    }
    let st = Stream {
        state,
        token,
        position: input::last_event_id(&req).map(str::to_string),
        queued: VecDeque::from([Bytes::from_static(b"retry: 1000\n\n")]),
        last_sent: Instant::now(),
        checked: Instant::now(),
    };
    let body = futures_util::stream::unfold(st, |mut st| async move {
        let frame = st.next().await?;
        Some((Ok::<_, actix_web::Error>(frame), st))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

struct Stream {
    state: web::Data<State>,
    token: String,
    position: Option<String>,
    queued: VecDeque<Bytes>,
    last_sent: Instant,
    checked: Instant,
}

impl Stream {
    /// The next frame; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = self.queued.pop_front() {
                self.last_sent = Instant::now();
                return Some(f);
            }
            if self.checked.elapsed() >= RECHECK {
                self.checked = Instant::now();
                let mut conn = self.state.conn().await.ok()?;
                access::stream_scope(&mut conn, &self.token).await.ok()??;
            }
            let events = {
                let mut conn = self.state.conn().await.ok()?;
                store::events_out::read_after(&mut conn, self.position.as_deref(), PAGE)
                    .await
                    .map_err(
                        |e| tracing::warn!(error = %e, "reading the outbox for a stream failed"),
                    )
                    .ok()?
            };
            for e in events {
                let data = serde_json::to_string(&e.payload).ok()?;
                self.queued.push_back(Bytes::from(format!(
                    "id: {}\nevent: {}\ndata: {data}\n\n",
                    e.position, e.event_type
                )));
                self.position = Some(e.position);
            }
            if self.queued.is_empty() {
                if self.last_sent.elapsed() >= KEEP_ALIVE {
                    self.queued
                        .push_back(Bytes::from_static(b": keep-alive\n\n"));
                } else {
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
}
