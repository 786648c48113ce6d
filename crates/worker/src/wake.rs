//! Wake-ups: a dedicated connection LISTENs on the inbox channel (through
//! [`store::listen`]); every notification (ingest sends one per committed
//! insert transaction) wakes the claim loops. A notification is only a hint
//! to claim: the table is the truth, and polling stays on as the fallback.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use store::inbox::CHANNEL;
use store::listen::{ListenError, Subscriber};
use tokio::sync::{watch, Notify};

/// Keeps a LISTEN connection to `url` open until `shutdown`, reconnecting
/// with backoff, and turns notifications into `wake.notify_one()` (several
/// notifications before a loop wakes count as one).
pub async fn listen(url: String, wake: Arc<Notify>, shutdown: watch::Receiver<bool>) {
    listen_on(url, CHANNEL, wake, shutdown).await
}

/// Like [`listen`], on `channel` (the delivery workers: the outbox's).
pub async fn listen_on(
    url: String,
    channel: &'static str,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::select! {
        _ = store::listen::listen(&url, channel, Wake(wake)) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// Wakes the claim loops.
struct Wake(Arc<Notify>);

impl Subscriber for Wake {
    type Error = Infallible;

    async fn listening(&mut self) -> Result<(), Infallible> {
        tracing::debug!("listening for inbox notifications");
        // Catch up with anything that arrived while not listening.
        self.0.notify_one();
        Ok(())
    }

    async fn notified(&mut self, _payloads: Vec<String>) -> Result<(), Infallible> {
        self.0.notify_one();
        Ok(())
    }

    fn interrupted(&mut self, error: &ListenError<Infallible>, retry_in: Duration) {
        let retry_in_ms = retry_in.as_millis() as u64;
        match error {
            ListenError::Connect(_) | ListenError::Listen(_) => {
                tracing::warn!(error = %error, retry_in_ms, "cannot LISTEN; polling meanwhile");
            }
            _ => {
                tracing::warn!(error = %error, retry_in_ms, "notification connection lost; polling meanwhile")
            }
        }
    }
}
