//! Whether the database answers: the readiness check of the binaries that
//! need it to do their work (ingest, the worker).

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;

use crate::PgPool;

/// Why the database did not answer.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// No connection, or `SELECT 1` failed.
    #[error("{0}")]
    Failed(#[from] crate::Error),
    /// No answer within the limit.
    #[error("database check timed out")]
    TimedOut,
}

/// Runs `SELECT 1` on a connection of `pool`, within `limit`. The simple
/// protocol: one message, fine behind a transaction pooler.
pub async fn ping(pool: &PgPool, limit: Duration) -> Result<(), PingError> {
    let check = async {
        let mut conn = pool.get().await.map_err(crate::Error::from)?;
        conn.batch_execute("SELECT 1")
            .await
            .map_err(crate::Error::from)
    };
    match tokio::time::timeout(limit, check).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(PingError::TimedOut),
    }
}
