//! `GET /api/stream`: the normalized events (docs/events.md) as Server-Sent
//! Events, for API tokens with the stream scope. Each message is `id:` (the
//! position), `event:` (the type), `data:` (the event body). `Last-Event-ID`
//! resumes after a position, within the outbox's retention. Events are read
//! from the outbox (only transactions that are over, in an order that never
//! skips one committing later), a page at a time: at once, then whenever
//! the board's one wake-up (`wake`) says more can be read; an idle stream
//! reads nothing. A comment keeps the connection alive.
//!
//! Each stream takes a place among the board's streams (`streams`): at most
//! `BOARD_API_STREAMS_PER_TOKEN` per token (429 beyond), closed when its
//! client accepts nothing for `BOARD_STREAM_WRITE_TIMEOUT`. It holds at
//! most one page of events, and reads the next only once actix took it.
//! The stream ends when the token loses its scope or is revoked (checked
//! every `BOARD_SESSION_CHECK`), or when the database fails (the client
//! reconnects with its `Last-Event-ID`).

pub mod wake;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use store::access;
use tokio::time::Interval;

use crate::error::BoardError;
use crate::streams::{ConnSocket, Slot, PIECE};
use crate::{auth, input, sse, State};

/// Events read at once: the most a stream holds.
const PAGE: i64 = 200;

/// `GET /api/stream`: 401 without a valid API token, 403 for a token
/// without the stream scope, 429 when the token holds as many streams as
/// allowed; else the stream.
pub async fn stream(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, BoardError> {
    let token = auth::bearer(&req)
        .map(str::to_string)
        .ok_or(BoardError::Unauthorized)?;
    let name = {
        let mut conn = state.conn().await?;
        access::token(&mut conn, &token)
            .await?
            .ok_or(BoardError::Unauthorized)?;
        access::stream_scope(&mut conn, &token)
            .await?
            .ok_or(BoardError::Forbidden(
                "this API token has no stream scope (worker token add NAME --stream)",
            ))?
    };
    let socket = req.conn_data::<ConnSocket>().map(|c| c.0.clone());
    let slot = state.streams.open_token(&name, socket)?;
    let st = Stream {
        wake: state.outbox.clone(),
        heartbeat: sse::interval(state.cfg.heartbeat),
        check: sse::jittered(state.cfg.session_check),
        state,
        token,
        position: input::last_event_id(&req).map(str::to_string),
        queued: Some(Bytes::from_static(b"retry: 1000\n\n")),
        read_due: true,
        slot,
        _open: sse::Open::new("switchboard_board_api_streams_open"),
    };
    Ok(sse::response(futures_util::stream::unfold(st, next_piece)))
}

struct Stream {
    state: web::Data<State>,
    token: String,
    /// The last position sent (read, at least).
    position: Option<String>,
    /// What was read and not handed to actix yet: at most a page.
    queued: Option<Bytes>,
    /// Whether the outbox may have more for this stream.
    read_due: bool,
    wake: wake::Wakeups,
    heartbeat: Interval,
    check: Interval,
    slot: Slot,
    _open: sse::Open,
}

/// The next piece for actix (at most [`PIECE`] bytes), the stream's watch
/// told when actix pulls and when it is handed something.
async fn next_piece(mut st: Stream) -> Option<(Result<Bytes, actix_web::Error>, Stream)> {
    st.slot.pulled();
    let mut piece = next_bytes(&mut st).await?;
    if piece.len() > PIECE {
        st.queued = Some(piece.split_off(PIECE));
    }
    st.slot.handed();
    Some((Ok(piece), st))
}

/// What was read, or a page read when due, or a keep-alive; `None` ends
/// the stream.
async fn next_bytes(st: &mut Stream) -> Option<Bytes> {
    loop {
        if let Some(b) = st.queued.take() {
            return Some(b);
        }
        if st.read_due {
            read_page(st).await?;
            continue;
        }
        tokio::select! {
            changed = st.wake.changed() => {
                // The sender lives as long as the board.
                changed.ok()?;
                st.read_due = true;
            }
            _ = st.heartbeat.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
            _ = st.check.tick() => {
                if !still_allowed(st).await {
                    metrics::counter!("switchboard_board_streams_dropped_total", "why" => "token").increment(1);
                    return None;
                }
            }
        }
    }
}

/// Reads the next page after the stream's position into its queue; a full
/// page leaves another read due. `None` when the database fails.
async fn read_page(st: &mut Stream) -> Option<()> {
    // Seen before reading: a wake-up from here on is not lost.
    st.wake.borrow_and_update();
    metrics::counter!("switchboard_board_api_stream_reads_total").increment(1);
    let events = {
        let mut conn = st.state.conn().await.ok()?;
        store::events_out::read_after(&mut conn, st.position.as_deref(), PAGE)
            .await
            .map_err(|e| tracing::warn!(error = %e, "reading the outbox for a stream failed"))
            .ok()?
    };
    st.read_due = events.len() as i64 >= PAGE;
    let mut out = String::new();
    for e in events {
        let data = serde_json::to_string(&e.payload).ok()?;
        out.push_str(&format!(
            "id: {}\nevent: {}\ndata: {data}\n\n",
            e.position, e.event_type
        ));
        st.position = Some(e.position);
    }
    if !out.is_empty() {
        st.heartbeat.reset();
        st.queued = Some(Bytes::from(out));
    }
    Some(())
}

/// Whether the stream's token still has the stream scope; `false` when
/// the database cannot tell (the client reconnects).
async fn still_allowed(st: &Stream) -> bool {
    let Ok(mut conn) = st.state.conn().await else {
        return false;
    };
    matches!(
        access::stream_scope(&mut conn, &st.token).await,
        Ok(Some(_))
    )
}
