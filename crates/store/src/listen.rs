//! LISTEN with reconnect, written once: a dedicated connection LISTENs on a
//! channel and hands the notifications to a [`Subscriber`]; when the
//! connection cannot be opened or is lost, or the subscriber fails, it
//! reconnects with backoff. The worker wakes its claim loops with it (the
//! inbox channel), the board follows the change feed with it.
//!
//! A quiet connection is asked `SELECT 1` every [`HEARTBEAT_EVERY`]: a
//! server that vanished behind a connection that stays open (a partition,
//! a proxy whose backend is gone) is noticed within seconds, and the next
//! connection tries the URL's hosts again, starting with the one that
//! accepted last (after a failover, the new primary).

use std::future::Future;
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::{FutureExt, StreamExt};

use crate::retry::Backoff;
use crate::tls::Target;

/// The first wait before reconnecting; it doubles per failure.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait before reconnecting: a failover is followed within
/// this once the new primary takes connections.
const LONGEST_RETRY: Duration = Duration::from_secs(5);
/// A connection without a notification for this long is asked whether it
/// is still there.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// How long the heartbeat's answer may take.
pub const HEARTBEAT_WITHIN: Duration = Duration::from_secs(3);
/// A connection that lasted this long was healthy: the next failure waits
/// [`FIRST_RETRY`] again.
const STEADY: Duration = Duration::from_secs(30);
/// Notifications handed over at once, at most: under load, several
/// arrive between two reads and are handled together.
const COALESCE: usize = 256;

/// What a LISTEN connection's life means to its user.
pub trait Subscriber {
    /// Why a callback ended the connection's round (it then reconnects).
    type Error: std::fmt::Display + std::fmt::Debug;

    /// Once LISTEN is in place, before any notification is read: catch up
    /// with what happened while nobody listened.
    fn listening(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The payloads of the notifications that arrived (at least one, and
    /// every other one already waiting, up to a bound), in order.
    fn notified(
        &mut self,
        payloads: Vec<String>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The connection failed or could not be opened; the next try is in
    /// `retry_in`.
    fn interrupted(&mut self, error: &ListenError<Self::Error>, retry_in: Duration);
}

/// Why a LISTEN connection's round ended.
#[derive(Debug, thiserror::Error)]
pub enum ListenError<E: std::fmt::Display> {
    /// The connection could not be opened.
    #[error("connecting: {0}")]
    Connect(crate::Error),
    /// The LISTEN statement failed.
    #[error("LISTEN: {0}")]
    Listen(diesel::result::Error),
    /// Reading notifications failed (the connection broke).
    #[error("the notification connection failed: {0}")]
    Lost(diesel::result::Error),
    /// The server closed the connection.
    #[error("the notification connection closed")]
    Closed,
    /// The heartbeat went unanswered: the server is gone, or unreachable.
    #[error("the notification connection did not answer within {0:?}")]
    Silent(Duration),
    /// The subscriber's own failure.
    #[error("{0}")]
    Subscriber(E),
}

/// Keeps a connection to `url` LISTENing on `channel` for as long as the
/// returned future is polled (drop it to stop), and hands what happens to
/// `subscriber`. Never returns.
pub async fn listen<S: Subscriber>(url: &str, channel: &str, mut subscriber: S) {
    let target = Target::parse(url).map_err(|e| e.to_string());
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    loop {
        let started = Instant::now();
        let error = match round(&target, channel, &mut subscriber).await {
            Err(e) => e,
            Ok(never) => match never {},
        };
        if started.elapsed() > STEADY {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        subscriber.interrupted(&error, delay);
        tokio::time::sleep(delay).await;
    }
}

/// One connection's life: returns only on failure.
async fn round<S: Subscriber>(
    target: &Result<Target, String>,
    channel: &str,
    subscriber: &mut S,
) -> Result<std::convert::Infallible, ListenError<S::Error>> {
    let target = target.as_ref().map_err(|e| {
        ListenError::Connect(crate::Error::Connect(
            diesel::ConnectionError::InvalidConnectionUrl(e.clone()),
        ))
    })?;
    let mut conn: AsyncPgConnection = crate::pool::connect_to(target)
        .await
        .map_err(ListenError::Connect)?;
    let listen = diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn);
    tokio::time::timeout(HEARTBEAT_WITHIN, listen)
        .await
        .map_err(|_| ListenError::Silent(HEARTBEAT_WITHIN))?
        .map_err(ListenError::Listen)?;
    // Listening first, then catching up: what is committed in between is
    // in the catch-up or in a notification (or both).
    subscriber
        .listening()
        .await
        .map_err(ListenError::Subscriber)?;
    loop {
        match next_payloads(&mut conn).await? {
            Some(payloads) => subscriber
                .notified(payloads)
                .await
                .map_err(ListenError::Subscriber)?,
            None => heartbeat(&mut conn).await?,
        }
    }
}

/// The notifications that arrived within [`HEARTBEAT_EVERY`] (at least
/// one, and every other one already waiting, up to a bound), or None when
/// none came.
async fn next_payloads<E: std::fmt::Display>(
    conn: &mut AsyncPgConnection,
) -> Result<Option<Vec<String>>, ListenError<E>> {
    let mut stream = std::pin::pin!(conn.notifications_stream());
    let first = match tokio::time::timeout(HEARTBEAT_EVERY, stream.next()).await {
        Err(_) => return Ok(None),
        Ok(None) => return Err(ListenError::Closed),
        Ok(Some(n)) => n.map_err(ListenError::Lost)?,
    };
    let mut payloads = vec![first.payload];
    while payloads.len() < COALESCE {
        match stream.next().now_or_never() {
            Some(Some(n)) => payloads.push(n.map_err(ListenError::Lost)?.payload),
            Some(None) => return Err(ListenError::Closed),
            None => break,
        }
    }
    Ok(Some(payloads))
}

/// Asks a quiet connection whether the server is still there.
async fn heartbeat<E: std::fmt::Display>(
    conn: &mut AsyncPgConnection,
) -> Result<(), ListenError<E>> {
    use diesel_async::SimpleAsyncConnection;
    match tokio::time::timeout(HEARTBEAT_WITHIN, conn.batch_execute("SELECT 1")).await {
        Err(_) => Err(ListenError::Silent(HEARTBEAT_WITHIN)),
        Ok(r) => r.map_err(ListenError::Lost),
    }
}
