//! Per-queue settings an operator sets (`worker queue ...`): the service
//! level threshold. A queue without settings answers within
//! `domain::projection::read::DEFAULT_SLA_SECONDS`.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

/// The largest threshold (seconds) [`set_sla`] accepts.
pub const MAX_SLA_SECONDS: i32 = 3600;

/// Why a queue setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("source {0:?} does not exist")]
    NoSource(String),
    #[error("a queue is named by its number (or call centre id): 1-64 characters, no spaces")]
    BadQueue,
    #[error("the service level threshold is 1 to {MAX_SLA_SECONDS} seconds")]
    BadSla,
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Sets the service level threshold of `queue` on `source`: calls answered
/// within `seconds` of entering the queue count as within it.
pub async fn set_sla(
    conn: &mut AsyncPgConnection,
    source: &str,
    queue: &str,
    seconds: i32,
) -> Result<(), QueueError> {
    if queue.is_empty() || queue.len() > 64 || queue.chars().any(char::is_whitespace) {
        return Err(QueueError::BadQueue);
    }
    if !(1..=MAX_SLA_SECONDS).contains(&seconds) {
        return Err(QueueError::BadSla);
    }
    let n = diesel::sql_query(
        "INSERT INTO queue_settings (source, queue, sla_seconds)
         SELECT name, $2, $3 FROM sources WHERE name = $1
         ON CONFLICT (source, queue) DO UPDATE SET sla_seconds = EXCLUDED.sla_seconds,
                                                   updated_at = now()",
    )
    .bind::<Text, _>(source)
    .bind::<Text, _>(queue)
    .bind::<Integer, _>(seconds)
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(QueueError::NoSource(source.to_string()));
    }
    Ok(())
}

/// Removes the settings of `queue` on `source` (back to the defaults).
/// Returns whether it had any.
pub async fn clear(
    conn: &mut AsyncPgConnection,
    source: &str,
    queue: &str,
) -> Result<bool, QueueError> {
    let n = diesel::sql_query("DELETE FROM queue_settings WHERE source = $1 AND queue = $2")
        .bind::<Text, _>(source)
        .bind::<Text, _>(queue)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// A queue's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, QueryableByName)]
pub struct QueueSettings {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub queue: String,
    #[diesel(sql_type = Integer)]
    pub sla_seconds: i32,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

/// Every queue's settings (of `source`, or all), by source and queue.
pub async fn list(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
) -> Result<Vec<QueueSettings>, QueueError> {
    Ok(diesel::sql_query(
        "SELECT source, queue, sla_seconds, updated_at FROM queue_settings
          WHERE $1::text IS NULL OR source = $1 ORDER BY source, queue",
    )
    .bind::<Nullable<Text>, _>(source)
    .load(conn)
    .await?)
}
