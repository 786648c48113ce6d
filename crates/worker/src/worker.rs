//! The worker and its batch loop: run batches back to back while there is
//! work, sleep until woken (LISTEN/NOTIFY) or the poll interval passes when
//! there is none, and back off while the database fails.

use std::sync::Arc;
use std::time::Duration;

use store::inbox::Outcome;
use store::retry::Backoff;
use store::PgPool;
use tokio::sync::{watch, Notify};

use crate::batch::{self, BatchError, BatchReport, Claim, Committed};
use crate::WorkerConfig;

/// The first wait after a failed batch; it doubles (with jitter) per
/// failure in a row.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait after a failed batch.
const LONGEST_RETRY: Duration = Duration::from_secs(10);

/// Errors that end a batch (its transaction rolled back; nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The worker: a pool and how to claim and retry.
pub struct Worker {
    pool: PgPool,
    cfg: WorkerConfig,
}

impl Worker {
    /// A worker over `pool`.
    pub fn new(pool: PgPool, cfg: WorkerConfig) -> Self {
        Worker { pool, cfg }
    }

    /// Runs until `shutdown` turns true, then returns after the current
    /// batch committed. After a full batch it claims again at once; else it
    /// sleeps until `wake` is notified or the poll interval passes. Database
    /// errors are logged and retried with backoff.
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
        let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.process_next().await {
                Ok(r) => {
                    backoff.reset();
                    if r.claimed > 0 {
                        tracing::debug!(?r, "batch done");
                    }
                    if r.claimed as i64 >= self.cfg.batch_size {
                        continue; // a full batch: there is likely more
                    }
                    self.cfg.poll_interval
                }
                Err(e) => {
                    let d = backoff.next_delay_jittered();
                    tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "batch failed");
                    d
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Drains the inbox: processes batches until none is left that is due.
    /// Returns the sum of the batch reports.
    pub async fn drain(&mut self) -> Result<BatchReport, WorkerError> {
        let mut total = BatchReport::default();
        loop {
            let r = self.process_next().await?;
            total += r;
            if r.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Claims and processes one batch. When applying it fails, its events
    /// are retried one per transaction, so that one bad event cannot hold
    /// back the others. Returns what the batch did.
    pub async fn process_next(&mut self) -> Result<BatchReport, WorkerError> {
        let mut conn = self.pool.get().await.map_err(store::Error::from)?;
        let (ids, cause) =
            match batch::run(&mut conn, &self.cfg, Claim::Next(self.cfg.batch_size)).await {
                Ok(c) => return Ok(recorded(c)),
                Err(BatchError::Store(e)) => return Err(e.into()),
                Err(BatchError::Apply { ids, cause }) => (ids, cause),
            };
        tracing::warn!(error = %cause, events = ids.len(), "batch apply failed; retrying its events one by one");
        let mut total = BatchReport::default();
        for id in ids {
            let committed = match batch::run(&mut conn, &self.cfg, Claim::One(id)).await {
                Ok(c) => c,
                Err(BatchError::Apply { cause, .. }) => {
                    batch::fail_alone(&mut conn, &self.cfg, id, &cause).await?
                }
                Err(BatchError::Store(e)) => return Err(e.into()),
            };
            total += recorded(committed);
        }
        Ok(total)
    }
}

/// Counts a committed batch in the metrics. Returns its report.
fn recorded(c: Committed) -> BatchReport {
    metrics::histogram!("switchboard_worker_claim_seconds").record(c.claim_secs);
    if c.report.claimed > 0 {
        metrics::histogram!("switchboard_worker_batch_size").record(c.report.claimed as f64);
        metrics::histogram!("switchboard_worker_apply_seconds").record(c.apply_secs);
    }
    for (_, o) in &c.outcomes {
        let (event_type, outcome) = match o {
            Outcome::Applied { event_type } => (event_type.clone(), "processed"),
            Outcome::Ignored { event_type } => (event_type.clone(), "ignored"),
            Outcome::Failed { event_type, .. } => (
                event_type.clone().unwrap_or_else(|| "unknown".into()),
                if o.is_dead() { "dead" } else { "failed" },
            ),
        };
        metrics::counter!("switchboard_worker_events_total", "event_type" => event_type, "outcome" => outcome)
            .increment(1);
    }
    c.report
}
