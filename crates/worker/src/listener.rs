//! Wake-ups: a dedicated connection LISTENs on the inbox channel; every
//! notification (ingest sends one per committed insert transaction) wakes the
//! worker loop. A notification is only a hint to claim: the table is the
//! truth, and polling stays on as the fallback.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio::sync::{watch, Notify};

use store::inbox::CHANNEL;

/// Keeps a LISTEN connection to `url` open until `shutdown`, reconnecting
/// with backoff, and turns notifications into `wake.notify_one()` (several
/// notifications before the loop wakes count as one).
pub async fn listen(url: String, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut delay = Duration::from_millis(200);
    loop {
        if *shutdown.borrow() {
            return;
        }
        match connect(&url).await {
            Ok(mut conn) => {
                delay = Duration::from_millis(200);
                tracing::debug!("listening for inbox notifications");
                // Catch up with anything that arrived while not listening.
                wake.notify_one();
                let mut stream = std::pin::pin!(conn.notifications_stream());
                loop {
                    tokio::select! {
                        n = stream.next() => match n {
                            Some(Ok(_)) => wake.notify_one(),
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "notification connection failed");
                                break;
                            }
                            None => {
                                tracing::warn!("notification connection closed");
                                break;
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot LISTEN; polling meanwhile");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Why the LISTEN connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("connecting: {0}")]
    Connect(#[from] store::Error),
    #[error("LISTEN: {0}")]
    Listen(#[from] diesel::result::Error),
}

/// Opens a connection (with the URL's TLS settings, like every other) and
/// LISTENs on the inbox channel. Returns it.
async fn connect(url: &str) -> Result<AsyncPgConnection, ListenError> {
    let mut conn = store::connect(url).await?;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .await?;
    Ok(conn)
}
