//! The inbox depth gauges, sampled for `/metrics`.

use std::time::Duration;

use store::PgPool;

/// Every `every`, sets `switchboard_worker_pending_events`,
/// `switchboard_worker_oldest_pending_age_seconds` and
/// `switchboard_worker_dead_events` from the inbox. Runs
/// until the process ends; a failed sample (or one that takes longer than
/// `deadline`) is skipped.
pub async fn sample(pool: PgPool, every: Duration, deadline: Duration) {
    loop {
        let sampled = store::run(
            &pool,
            deadline,
            "sampling the inbox depth",
            store::Access::Read,
            async |c| store::inbox::depth(c).await,
        )
        .await;
        {
            if let Ok(d) = sampled {
                metrics::gauge!("switchboard_worker_pending_events").set(d.pending as f64);
                metrics::gauge!("switchboard_worker_oldest_pending_age_seconds")
                    .set(d.oldest_age_seconds);
                metrics::gauge!("switchboard_worker_dead_events").set(d.dead as f64);
            }
        }
        tokio::time::sleep(every).await;
    }
}
