//! LISTEN with reconnect, written once: a dedicated connection LISTENs on a
//! channel and hands the notifications to a [`Subscriber`]; when the
//! connection cannot be opened or is lost, or the subscriber fails, it
//! reconnects with backoff. The worker wakes its claim loops with it (the
//! inbox channel), the board follows the change feed with it.

use std::future::Future;
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::{FutureExt, StreamExt};

use crate::retry::Backoff;

/// The first wait before reconnecting; it doubles per failure.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait before reconnecting.
const LONGEST_RETRY: Duration = Duration::from_secs(10);
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
    /// The subscriber's own failure.
    #[error("{0}")]
    Subscriber(E),
}

/// Keeps a connection to `url` LISTENing on `channel` for as long as the
/// returned future is polled (drop it to stop), and hands what happens to
/// `subscriber`. Never returns.
pub async fn listen<S: Subscriber>(url: &str, channel: &str, mut subscriber: S) {
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    loop {
        let started = Instant::now();
        let error = match round(url, channel, &mut subscriber).await {
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
    url: &str,
    channel: &str,
    subscriber: &mut S,
) -> Result<std::convert::Infallible, ListenError<S::Error>> {
    let mut conn: AsyncPgConnection = crate::connect(url).await.map_err(ListenError::Connect)?;
    diesel::sql_query(format!("LISTEN {channel}"))
        .execute(&mut conn)
        .await
        .map_err(ListenError::Listen)?;
    // Listening first, then catching up: what is committed in between is
    // in the catch-up or in a notification (or both).
    subscriber
        .listening()
        .await
        .map_err(ListenError::Subscriber)?;
    let mut stream = std::pin::pin!(conn.notifications_stream());
    loop {
        let first = stream
            .next()
            .await
            .ok_or(ListenError::Closed)?
            .map_err(ListenError::Lost)?;
        let mut payloads = vec![first.payload];
        while payloads.len() < COALESCE {
            match stream.next().now_or_never() {
                Some(Some(n)) => payloads.push(n.map_err(ListenError::Lost)?.payload),
                Some(None) => return Err(ListenError::Closed),
                None => break,
            }
        }
        subscriber
            .notified(payloads)
            .await
            .map_err(ListenError::Subscriber)?;
    }
}
