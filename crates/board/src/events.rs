//! `GET /events`: a logged-in browser's Server-Sent Events stream. The
//! frames come from the hub; this is the stream that writes them: its
//! keep-alive comments, its session checks, and its place among the open
//! streams (`streams`: the caps, the write timeout).

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;
use store::access;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::{Instant, Interval};

use crate::error::BoardError;
use crate::hub::Frame;
use crate::streams::{ConnSocket, Slot, PIECE};
use crate::{auth, input, sse, State};

/// `GET /events`: a snapshot (or, with a usable `Last-Event-ID`, the
/// updates missed), then every update; a keep-alive comment when idle.
/// The stream ends when the session does (logout, expiry, disabled user),
/// when the browser falls too far behind or accepts nothing for the write
/// timeout, or when the server stops; the browser then reconnects. 401
/// without a session; 429 when the session or the user holds as many
/// streams as allowed.
pub async fn events(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, BoardError> {
    let token = auth::cookie_value(&req).ok_or(BoardError::Unauthorized)?;
    let session = auth::require_session(&req, &state).await?;
    let socket = req.conn_data::<ConnSocket>().map(|c| c.0.clone());
    let slot = state
        .streams
        .open(&token, session.user_id, &session.name, socket)?;
    let sub = state.hub.subscribe(input::last_event_id(&req))?;
    metrics::counter!("switchboard_board_streams_opened_total", "start" => if sub.resumed { "resumed" } else { "snapshot" })
        .increment(1);
    let mut first: VecDeque<Frame> = sub.first.into();
    // Reconnect after a second when the stream ends.
    first.push_front(Bytes::from_static(b"retry: 1000\n\n"));
    let until = (session.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let st = Stream {
        first,
        updates: sub.updates,
        heartbeat: sse::interval(state.cfg.heartbeat),
        check: sse::jittered(state.cfg.session_check),
        expires: Instant::now() + until,
        token,
        state: state.clone(),
        slot,
        _open: sse::Open::new("switchboard_board_streams_open"),
    };
    Ok(sse::response(stream::unfold(st, next_piece)))
}

struct Stream {
    /// What goes out before the updates (and the rest of a frame handed
    /// out in pieces).
    first: VecDeque<Frame>,
    updates: Receiver<Frame>,
    heartbeat: Interval,
    check: Interval,
    expires: Instant,
    token: String,
    state: web::Data<State>,
    slot: Slot,
    _open: sse::Open,
}

/// The next piece for actix: at most [`PIECE`] bytes of the next frame (so
/// that a client still reading shows progress), the stream's watch told
/// when actix pulls and when it is handed something.
async fn next_piece(mut st: Stream) -> Option<(Result<Bytes, actix_web::Error>, Stream)> {
    st.slot.pulled();
    let mut frame = next_frame(&mut st).await?;
    if frame.len() > PIECE {
        let rest = frame.split_off(PIECE);
        st.first.push_front(rest);
    }
    st.slot.handed();
    Some((Ok(frame), st))
}

async fn next_frame(st: &mut Stream) -> Option<Frame> {
    if let Some(f) = st.first.pop_front() {
        return Some(f);
    }
    loop {
        tokio::select! {
            r = st.updates.recv() => match r {
                Ok(f) => {
                    st.heartbeat.reset();
                    return Some(f);
                }
                Err(RecvError::Lagged(missed)) => {
                    metrics::counter!("switchboard_board_streams_dropped_total", "why" => "slow").increment(1);
                    tracing::info!(missed, "event stream fell behind; dropped (the browser resumes)");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            },
            _ = st.heartbeat.tick() => return Some(Bytes::from_static(b": ping\n\n")),
            _ = st.check.tick() => {
                if !session_still_valid(st).await {
                    metrics::counter!("switchboard_board_streams_dropped_total", "why" => "session").increment(1);
                    return None;
                }
            }
            _ = tokio::time::sleep_until(st.expires) => {
                metrics::counter!("switchboard_board_streams_dropped_total", "why" => "session").increment(1);
                return None;
            }
        }
    }
}

/// Whether the stream's session is still valid; `true` when the database
/// cannot tell (a database blip does not close every board).
async fn session_still_valid(st: &Stream) -> bool {
    let Ok(mut conn) = st.state.conn().await else {
        return true;
    };
    match access::session(&mut conn, &st.token).await {
        Ok(s) => s.is_some(),
        Err(_) => true,
    }
}
