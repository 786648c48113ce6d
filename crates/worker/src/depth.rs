//! The inbox depth gauges, sampled for `/metrics`.

use std::time::Duration;

use store::PgPool;

/// Every `every`, sets `switchboard_worker_pending_events` and
/// `switchboard_worker_oldest_pending_age_seconds` from the inbox. Runs
/// until the process ends; a failed sample is skipped.
pub async fn sample(pool: PgPool, every: Duration) {
    loop {
        if let Ok(mut conn) = pool.get().await {
            if let Ok(d) = store::inbox::depth(&mut conn).await {
                metrics::gauge!("switchboard_worker_pending_events").set(d.pending as f64);
                metrics::gauge!("switchboard_worker_oldest_pending_age_seconds")
                    .set(d.oldest_age_seconds);
            }
        }
        tokio::time::sleep(every).await;
    }
}
