//! Upkeep of the inbox while the worker runs: the daily partitions stay
//! created ahead, and the queue is vacuumed as soon as completions have
//! left enough dead rows in it (autovacuum visits a database once a
//! minute, by which time a busy queue holds a minute of dead rows).

use std::time::{Duration, Instant};

use store::{Access, PgPool};
use tokio::sync::watch;

/// Days of partitions kept created ahead of today.
const DAYS_AHEAD: i32 = 7;
/// How often the partitions are checked.
const PARTITION_EVERY: Duration = Duration::from_secs(3600);
/// How often the queue's dead rows are looked at.
const VACUUM_CHECK_EVERY: Duration = Duration::from_millis(500);
/// Dead rows in the queue that make it worth a vacuum.
const VACUUM_AFTER_DEAD_ROWS: i64 = 500;

/// Runs until `shutdown` turns true: creates missing partitions at start
/// and hourly, and vacuums the queue when it holds more than
/// [`VACUUM_AFTER_DEAD_ROWS`] dead rows (if this role owns it; otherwise it
/// says so once and leaves it to autovacuum). Failures are logged and tried
/// again at the next turn.
pub async fn run(pool: PgPool, deadline: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut partitions_due = Instant::now();
    let mut may_vacuum = true;
    loop {
        if *shutdown.borrow() {
            return;
        }
        {
            if Instant::now() >= partitions_due {
                let made = store::run(
                    &pool,
                    deadline,
                    "creating partitions",
                    Access::Write,
                    async |c| store::inbox::ensure_partitions(c, DAYS_AHEAD).await,
                )
                .await;
                match made {
                    Ok(n) => {
                        partitions_due = Instant::now() + PARTITION_EVERY;
                        if n > 0 {
                            tracing::info!(days = n, "created inbox partitions ahead");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not create inbox partitions"),
                }
            }
            if may_vacuum {
                let dead = store::run(
                    &pool,
                    deadline,
                    "reading the queue's statistics",
                    Access::Read,
                    async |c| store::inbox::queue_dead_tuples(c).await,
                )
                .await;
                match dead {
                    Ok((_, false)) => {
                        may_vacuum = false;
                        tracing::info!(
                            "this role does not own event_queue: autovacuum alone vacuums it"
                        );
                    }
                    Ok((dead, true)) if dead > VACUUM_AFTER_DEAD_ROWS => {
                        let started = Instant::now();
                        let vacuumed = store::run(
                            &pool,
                            deadline,
                            "vacuuming the queue",
                            Access::Write,
                            async |c| store::inbox::vacuum_queue(c).await,
                        )
                        .await;
                        match vacuumed {
                            Ok(()) => {
                                metrics::counter!("switchboard_worker_queue_vacuums_total")
                                    .increment(1);
                                tracing::debug!(
                                    dead,
                                    ms = started.elapsed().as_millis() as u64,
                                    "vacuumed the queue"
                                );
                            }
                            Err(e) => tracing::warn!(error = %e, "could not vacuum the queue"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not read the queue's statistics"),
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(VACUUM_CHECK_EVERY) => {}
            _ = shutdown.changed() => {}
        }
    }
}
