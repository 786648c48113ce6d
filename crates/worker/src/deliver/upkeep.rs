//! Upkeep, every [`UPKEEP_EVERY`]: endpoints failing for `--disable-after`
//! disabled (a log line and a metric each), the outbox pruned past its
//! retention, the per-endpoint gauges sampled.

use std::time::Duration;

use store::events_out;
use store::{Access, PgPool};
use tokio::sync::watch;

use super::{metrics, DeliverArgs, DEADLINE};

/// How often upkeep runs.
const UPKEEP_EVERY: Duration = Duration::from_secs(15);

/// Disables endpoints failing for `--disable-after` (a log line and a
/// metric each), prunes the outbox past its retention, and samples the
/// per-endpoint gauges, every [`UPKEEP_EVERY`].
pub async fn run(pool: PgPool, args: DeliverArgs, mut shutdown: watch::Receiver<bool>) {
    let disable_after = args.disable_after;
    loop {
        let retention = args.outbox_retention;
        if let Err(e) = store::run(
            &pool,
            DEADLINE,
            "pruning the outbox",
            Access::Write,
            async |c| events_out::prune(c, retention, 10_000).await,
        )
        .await
        {
            tracing::warn!(error = %e, "pruning the outbox failed");
        }
        let disabled = store::run(
            &pool,
            DEADLINE,
            "disabling failing endpoints",
            Access::Write,
            async |c| events_out::disable_failing(c, disable_after).await,
        )
        .await;
        match disabled {
            Ok(names) => {
                for name in names {
                    tracing::error!(endpoint = %name, failing_for_s = disable_after.as_secs(), "endpoint failing for too long: disabled");
                    metrics::disabled(&name, "failing");
                }
            }
            Err(e) => tracing::warn!(error = %e, "disabling failing endpoints failed"),
        }
        if let Ok(stats) = store::run(&pool, DEADLINE, "delivery stats", Access::Read, async |c| {
            events_out::DeliveryStats::load(c).await
        })
        .await
        {
            metrics::gauges(&stats);
        }
        tokio::select! {
            _ = tokio::time::sleep(UPKEEP_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
