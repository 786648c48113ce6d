//! `worker replay`: re-queueing dead events.

use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::Error;

/// Which dead events [`replay`] re-queues. Empty filters with `all: false`
/// select nothing.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub ids: Vec<i64>,
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub all: bool,
}

impl ReplayFilter {
    /// Whether the filter selects anything at all.
    pub fn is_empty(&self) -> bool {
        !self.all && self.ids.is_empty() && self.source.is_none() && self.event_type.is_none()
    }
}

const REPLAY: &str = "UPDATE event_queue SET dead_at = NULL, next_attempt_at = NULL, attempts = 0
     WHERE dead_at IS NOT NULL
       AND (cardinality($1::int8[]) = 0 OR id = ANY($1))
       AND ($2::text IS NULL OR source = $2)
       AND ($3::text IS NULL OR event_type = $3)";

/// Re-queues the dead events matching `filter`: they become pending again
/// with their attempts reset (their last error is kept for reference).
/// Returns how many were re-queued.
pub async fn replay(conn: &mut AsyncPgConnection, filter: &ReplayFilter) -> Result<usize, Error> {
    if filter.is_empty() {
        return Ok(0);
    }
    Ok(diesel::sql_query(REPLAY)
        .bind::<Array<BigInt>, _>(&filter.ids)
        .bind::<Nullable<Text>, _>(filter.source.as_deref())
        .bind::<Nullable<Text>, _>(filter.event_type.as_deref())
        .execute(conn)
        .await?)
}
