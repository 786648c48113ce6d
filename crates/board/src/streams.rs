//! The open event streams, and what one client may hold with them: at most
//! `BOARD_STREAMS_PER_SESSION` per login session and
//! `BOARD_STREAMS_PER_USER` per user (429 beyond), and
//! `BOARD_API_STREAMS_PER_TOKEN` per API token (`/api/stream`), and no
//! stream whose client accepts nothing for `BOARD_STREAM_WRITE_TIMEOUT`.
//!
//! The write timeout. actix-web has none for a streaming body: when a
//! client stops reading, the socket fills, actix stops pulling the stream
//! once its own write buffer is full, and nothing happens until the client
//! goes away (seen: 2.7 MB unsent on a socket for as long as the test
//! ran). So each stream records when it handed actix a piece and whether
//! actix has pulled again since ([`Watch`]), and one task ([`watchdog`])
//! finds the streams stuck longer than the timeout and closes their
//! sockets: `SO_LINGER` 0, then `shutdown`, so actix's pending write fails
//! and the kernel drops what it holds with a reset, at once. Each
//! connection keeps a duplicate of its socket for that ([`ConnSocket`],
//! one more descriptor per connection), taken in `HttpServer::on_connect`.
//!
//! To make "actix stopped pulling" mean "the client accepts nothing",
//! an event stream's socket keeps at most [`NOTSENT_LOWAT`] bytes it could
//! not send yet (`TCP_NOTSENT_LOWAT`, instead of up to megabytes), and
//! streams hand actix at most [`PIECE`] bytes at a time (a large snapshot
//! in pieces), so a slow client still reading makes progress the stream
//! sees. A client that vanished without closing (no FIN, no reset) leaves
//! its data unacknowledged: `TCP_USER_TIMEOUT` (twice the write timeout)
//! lets the kernel close those, where TCP's retransmissions would take
//! some 15 minutes.

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::error::BoardError;

/// Most bytes an event stream's socket keeps that it could not send yet.
pub const NOTSENT_LOWAT: u32 = 128 * 1024;
/// Most bytes a stream hands actix at once, and the size of actix's write
/// buffer (`HttpServer::h1_write_buffer_size`): actix pulls the next piece
/// only while its buffer holds less, so a connection holds at most two
/// pieces unsent (1,000 streams of a client that reads slowly: 16 MiB;
/// actix's default buffer, 32 KiB, made it 48 MiB). What a stream has not
/// taken yet waits in the hub's shared frames.
pub const PIECE: usize = 8 * 1024;

/// A duplicate of a connection's socket, kept in the connection's data
/// (`HttpServer::on_connect`) so that a stream can be closed while actix
/// is blocked writing to it.
pub struct ConnSocket(pub Arc<Socket>);

impl ConnSocket {
    /// The duplicate of `conn`'s socket when `conn` is a plain TCP
    /// connection; `None` otherwise (and when the process is out of
    /// descriptors: that stream then has only the kernel's timeout).
    pub fn of(conn: &dyn std::any::Any) -> Option<ConnSocket> {
        let tcp = conn.downcast_ref::<actix_web::rt::net::TcpStream>()?;
        match socket2::SockRef::from(tcp).try_clone() {
            Ok(s) => Some(ConnSocket(Arc::new(s))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep a handle on a connection's socket; its event stream is closed by the kernel's timeout only");
                None
            }
        }
    }
}

/// Every open stream, and the caps.
pub struct Streams {
    inner: Mutex<Inner>,
    per_session: usize,
    per_user: usize,
    per_token: usize,
    write_timeout: Duration,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<Watch>>,
    /// Open streams per session (by the cookie's value, kept in memory only).
    sessions: HashMap<String, usize>,
    /// Open streams per user id.
    users: HashMap<i64, usize>,
    /// Open API streams per token name.
    tokens: HashMap<String, usize>,
}

/// Whose a stream is: a login session's (`/events`) or an API token's.
enum Holder {
    Session { session: String, user_id: i64 },
    Token(String),
}

/// What the watchdog knows of one stream.
pub struct Watch {
    socket: Option<Arc<Socket>>,
    /// Since when actix has held a piece of this stream without pulling
    /// the next (`None`: it is waiting for the stream).
    handed: Mutex<Option<Instant>>,
}

impl Watch {
    fn handed(&self) -> MutexGuard<'_, Option<Instant>> {
        self.handed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One open stream's place: given back when dropped.
pub struct Slot {
    streams: Arc<Streams>,
    id: u64,
    holder: Holder,
    watch: Arc<Watch>,
}

impl Slot {
    /// actix asks for the next piece: the previous one is on its way.
    pub fn pulled(&self) {
        *self.watch.handed() = None;
    }

    /// A piece was handed to actix.
    pub fn handed(&self) {
        *self.watch.handed() = Some(Instant::now());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.streams.lock();
        inner.open.remove(&self.id);
        match &self.holder {
            Holder::Session { session, user_id } => {
                release(&mut inner.sessions, session);
                release(&mut inner.users, user_id);
            }
            Holder::Token(name) => release(&mut inner.tokens, name),
        }
    }
}

fn release<K: std::hash::Hash + Eq + Clone>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Streams {
    /// No stream open yet; the caps (per session, user, API token) and the
    /// write timeout.
    pub fn new(
        per_session: usize,
        per_user: usize,
        per_token: usize,
        write_timeout: Duration,
    ) -> Streams {
        Streams {
            inner: Mutex::new(Inner::default()),
            per_session: per_session.max(1),
            per_user: per_user.max(1),
            per_token: per_token.max(1),
            write_timeout: write_timeout.max(Duration::from_millis(100)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new stream of session `session` of user `user_id`
    /// (`user`: their name), on `socket`; 429 over either cap (counted in
    /// `switchboard_board_streams_refused_total`). The socket gets the
    /// stream's options: [`NOTSENT_LOWAT`], and the kernel's timeout.
    pub fn open(
        self: &Arc<Self>,
        session: &str,
        user_id: i64,
        user: &str,
        socket: Option<Arc<Socket>>,
    ) -> Result<Slot, BoardError> {
        let id = {
            let mut inner = self.lock();
            let refused = if inner.sessions.get(session).copied().unwrap_or(0) >= self.per_session {
                Some((
                    "session_limit",
                    format!(
                        "too many open boards for this session (at most {}): close one, then reload",
                        self.per_session
                    ),
                ))
            } else if inner.users.get(&user_id).copied().unwrap_or(0) >= self.per_user {
                Some((
                    "user_limit",
                    format!(
                        "too many open boards for user {user} (at most {}): close one, then reload",
                        self.per_user
                    ),
                ))
            } else {
                None
            };
            if let Some((why, message)) = refused {
                drop(inner);
                return Err(refuse(user, why, message));
            }
            *inner.sessions.entry(session.to_string()).or_default() += 1;
            *inner.users.entry(user_id).or_default() += 1;
            inner.next_id += 1;
            inner.next_id
        };
        let holder = Holder::Session {
            session: session.to_string(),
            user_id,
        };
        Ok(self.watch(id, holder, socket))
    }

    /// A slot for a new `/api/stream` of API token `token` (its name), on
    /// `socket`; 429 over `BOARD_API_STREAMS_PER_TOKEN` (counted as
    /// `token_limit`). The socket gets the stream's options, as [`open`](Self::open).
    pub fn open_token(
        self: &Arc<Self>,
        token: &str,
        socket: Option<Arc<Socket>>,
    ) -> Result<Slot, BoardError> {
        let id = {
            let mut inner = self.lock();
            if inner.tokens.get(token).copied().unwrap_or(0) >= self.per_token {
                drop(inner);
                let message = format!(
                    "too many open streams for API token {token} (at most {}): close one, then reconnect",
                    self.per_token
                );
                return Err(refuse(token, "token_limit", message));
            }
            *inner.tokens.entry(token.to_string()).or_default() += 1;
            inner.next_id += 1;
            inner.next_id
        };
        Ok(self.watch(id, Holder::Token(token.to_string()), socket))
    }

    /// Sets up the socket of admitted stream `id` and watches it.
    fn watch(self: &Arc<Self>, id: u64, holder: Holder, socket: Option<Arc<Socket>>) -> Slot {
        if let Some(s) = &socket {
            // Best effort: without them the watchdog still closes the
            // stream, once the kernel's larger buffer is full.
            let _ = s.set_tcp_notsent_lowat(NOTSENT_LOWAT);
            let _ = s.set_tcp_user_timeout(Some(self.write_timeout * 2));
        }
        let watch = Arc::new(Watch {
            socket,
            handed: Mutex::new(None),
        });
        self.lock().open.insert(id, watch.clone());
        Slot {
            streams: self.clone(),
            id,
            holder,
            watch,
        }
    }

    /// Closes the streams stuck longer than the write timeout; returns how
    /// many.
    fn close_stuck(&self, now: Instant) -> usize {
        let stuck: Vec<(u64, Arc<Watch>)> = self
            .lock()
            .open
            .iter()
            .filter(|(_, w)| {
                w.handed()
                    .is_some_and(|since| now.saturating_duration_since(since) >= self.write_timeout)
            })
            .map(|(id, w)| (*id, w.clone()))
            .collect();
        let mut closed = 0;
        for (id, watch) in stuck {
            // Once: the stream's socket is closed, whatever follows.
            *watch.handed() = None;
            let Some(socket) = &watch.socket else {
                continue;
            };
            let _ = socket.set_linger(Some(Duration::ZERO));
            if let Err(e) = socket.shutdown(Shutdown::Both) {
                tracing::debug!(error = %e, "closing a stuck event stream");
            }
            metrics::counter!("switchboard_board_streams_dropped_total", "why" => "write_timeout")
                .increment(1);
            tracing::info!(
                stream = id,
                timeout_ms = self.write_timeout.as_millis() as u64,
                "event stream closed: its client accepted nothing within the write timeout"
            );
            closed += 1;
        }
        closed
    }
}

/// A refusal over a cap, counted and logged.
fn refuse(who: &str, why: &'static str, message: String) -> BoardError {
    metrics::counter!("switchboard_board_streams_refused_total", "why" => why).increment(1);
    tracing::info!(who, why, "event stream refused: over the cap");
    BoardError::TooMany(message)
}

/// Runs for the life of the process: every second (or a quarter of the
/// write timeout, when shorter), closes the streams stuck longer than it.
pub async fn watchdog(streams: Arc<Streams>) {
    let tick = (streams.write_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        streams.close_stuck(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_session_and_per_user() {
        let s = Arc::new(Streams::new(2, 3, 2, Duration::from_secs(30)));
        let a1 = s.open("a", 1, "alice", None).unwrap();
        let _a2 = s.open("a", 1, "alice", None).unwrap();
        let e = s.open("a", 1, "alice", None).err().unwrap();
        assert!(e.to_string().contains("this session"), "{e}");
        let _b1 = s.open("b", 1, "alice", None).unwrap();
        let e = s.open("b", 1, "alice", None).err().unwrap();
        assert!(e.to_string().contains("user alice"), "{e}");
        // Another user is not affected.
        let _c = s.open("c", 2, "bob", None).unwrap();
        // Closing one frees its place, for the session and the user.
        drop(a1);
        let _b2 = s.open("b", 1, "alice", None).unwrap();
        assert!(
            s.open("a", 1, "alice", None).is_err(),
            "the user is full again"
        );
    }

    #[test]
    fn api_streams_are_capped_per_token_apart_from_sessions() {
        let s = Arc::new(Streams::new(1, 1, 2, Duration::from_secs(30)));
        let _board = s.open("a", 1, "alice", None).unwrap();
        let t1 = s.open_token("crm", None).unwrap();
        let _t2 = s.open_token("crm", None).unwrap();
        let e = s.open_token("crm", None).err().unwrap();
        assert!(e.to_string().contains("API token crm"), "{e}");
        let _other = s.open_token("erp", None).unwrap();
        drop(t1);
        let _t3 = s.open_token("crm", None).unwrap();
        assert_eq!(s.lock().tokens.get("crm"), Some(&2));
    }

    #[test]
    fn a_stream_is_stuck_only_while_actix_holds_a_piece() {
        let s = Arc::new(Streams::new(9, 9, 9, Duration::from_secs(5)));
        let slot = s.open("a", 1, "alice", None).unwrap();
        let t0 = Instant::now();
        assert_eq!(
            s.close_stuck(t0 + Duration::from_secs(60)),
            0,
            "waiting for news"
        );
        slot.handed();
        assert_eq!(s.close_stuck(Instant::now() + Duration::from_secs(4)), 0);
        slot.pulled();
        assert_eq!(s.close_stuck(Instant::now() + Duration::from_secs(60)), 0);
        slot.handed();
        // Without a socket there is nothing to close, but it is seen once.
        assert_eq!(s.close_stuck(Instant::now() + Duration::from_secs(6)), 0);
        drop(slot);
        assert!(s.lock().open.is_empty() && s.lock().users.is_empty());
        assert!(s.lock().sessions.is_empty() && s.lock().tokens.is_empty());
    }
}
