//! The worker and its batch loop: run batches back to back while there is
//! work, sleep until woken (LISTEN/NOTIFY) or the poll interval passes when
//! there is none, and back off while the database fails.
//!
//! Each batch's transaction runs under the statement timeout as a deadline
//! ([`store::run`]): a server that vanished mid-batch costs that long, then
//! the connection is discarded and the next one tries the URL's hosts
//! again. A batch that fails because the database is unavailable (a full
//! disk, a read-only server, a lost connection, also while applying) rolls
//! back whole and is retried after a backoff: its events are never marked
//! failed for the database's fault.

use std::sync::Arc;
use std::time::Duration;

use store::inbox::Outcome;
use store::retry::Backoff;
use store::{Access, PgPool};
use tokio::sync::{watch, Notify};

use crate::batch::{self, ApplyFailure, BatchError, BatchReport, Claim, Committed, Scratch};
use crate::deliver::HandOff;
use crate::{Backlog, WorkerConfig};

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
    /// Buffers reused from batch to batch.
    scratch: Scratch,
    /// Where committed batches hand their deliveries over (`worker run
    /// --deliver`); without it, every delivery waits for a claim.
    hand_off: Option<HandOff>,
    /// Shared with the process's other claim loops; `joins`: this loop
    /// claims only while batches come back full (not the first loop).
    backlog: Option<(Arc<Backlog>, bool)>,
}

impl Worker {
    /// A worker over `pool`.
    pub fn new(pool: PgPool, cfg: WorkerConfig) -> Self {
        Worker {
            pool,
            cfg,
            scratch: Scratch::default(),
            hand_off: None,
            backlog: None,
        }
    }

    /// This worker is one of a process's claim loops sharing `backlog`;
    /// with `joins`, it claims only while batches come back full.
    pub fn with_backlog(mut self, backlog: Arc<Backlog>, joins: bool) -> Self {
        self.backlog = Some((backlog, joins));
        self
    }

    /// This worker's batches hand their deliveries to `hand_off`, to send
    /// on commit.
    pub fn with_hand_off(mut self, hand_off: Option<HandOff>) -> Self {
        self.hand_off = hand_off;
        self
    }

    /// Runs until `shutdown` turns true, then returns after the current
    /// batch committed. After a full batch it claims again at once; else it
    /// sleeps until `wake` is notified or the poll interval passes (a loop
    /// that joins on a backlog waits for the next one instead). Database
    /// errors are logged and retried with backoff.
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
        let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let joins = matches!(&self.backlog, Some((_, true)));
            if let Some((backlog, true)) = &self.backlog {
                let backlog = backlog.clone();
                tokio::select! {
                    _ = backlog.wait() => {}
                    _ = shutdown.changed() => continue,
                }
            }
            let pause = match self.process_next().await {
                Ok(r) => {
                    backoff.reset();
                    if r.claimed > 0 {
                        tracing::debug!(?r, "batch done");
                    }
                    let full = r.claimed as i64 >= self.cfg.batch_size;
                    if let Some((backlog, _)) = &self.backlog {
                        backlog.record(full);
                    }
                    if full {
                        continue; // a full batch: there is likely more
                    }
                    if joins {
                        // Back to waiting for a backlog: the inbox's
                        // wake-ups are the first loop's.
                        continue;
                    }
                    self.cfg.poll_interval
                }
                Err(e) => {
                    let d = backoff.next_delay_jittered();
                    let WorkerError::Store(se) = &e;
                    let cause = se.cause().map_or("other", store::Cause::as_str);
                    tracing::warn!(cause, error = %e, retry_in_ms = d.as_millis() as u64, "batch failed; nothing of it was applied");
                    d
                }
            };
            if joins {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
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

    /// Claims and processes one batch. When applying it fails for what an
    /// event holds, its events are retried one per transaction, so that one
    /// bad event cannot hold back the others. Returns what the batch did.
    pub async fn process_next(&mut self) -> Result<BatchReport, WorkerError> {
        let (ids, cause) = match self.batch(Claim::Next(self.cfg.batch_size)).await? {
            Ok(c) => return Ok(recorded(c)),
            Err(failed) => failed,
        };
        tracing::warn!(error = %cause, events = ids.len(), "batch apply failed; retrying its events one by one");
        let mut total = BatchReport::default();
        for id in ids {
            let committed = match self.batch(Claim::One(id)).await? {
                Ok(c) => c,
                Err((_, cause)) => self.fail_alone(id, &cause).await?,
            };
            total += recorded(committed);
        }
        Ok(total)
    }

    /// One batch in one transaction, under the deadline. Returns it once
    /// committed, or `Ok(Err)` when applying failed for what an event holds
    /// (rolled back); `Err` when the database failed (rolled back too),
    /// applying included.
    async fn batch(
        &mut self,
        what: Claim,
    ) -> Result<Result<Committed, (Vec<i64>, ApplyFailure)>, store::Error> {
        let cfg = &self.cfg;
        let scratch = &mut self.scratch;
        let hand_over = self.hand_off.as_ref().map(HandOff::hand_over);
        // Before the transaction: what it hands over is leased after this.
        let began = std::time::Instant::now();
        // Counted as a write only when it claimed something: an empty
        // claim succeeds on a full disk too.
        let mut r = store::run(
            &self.pool,
            cfg.statement_timeout,
            "a batch",
            Access::Read,
            async |conn| match batch::run(conn, cfg, what, scratch, hand_over).await {
                Ok(c) => Ok(Ok(c)),
                Err(BatchError::Apply {
                    cause: ApplyFailure::Database(e),
                    ..
                }) if e.is_unavailable() => Err(e),
                Err(BatchError::Apply { ids, cause }) => Ok(Err((ids, cause))),
                Err(BatchError::Store(e)) => Err(e),
            },
        )
        .await;
        if let Ok(Ok(c)) = &mut r {
            if c.report.claimed > 0 {
                store::health::succeeded(true);
            }
            if let Some(h) = &self.hand_off {
                h.take(std::mem::take(&mut c.handed_over), began);
            }
        }
        r
    }

    /// Records that event `id` failed alone with `cause`.
    async fn fail_alone(&self, id: i64, cause: &ApplyFailure) -> Result<Committed, store::Error> {
        let cfg = &self.cfg;
        store::run(
            &self.pool,
            cfg.statement_timeout,
            "recording a failed event",
            Access::Write,
            async |conn| batch::fail_alone(conn, cfg, id, cause).await,
        )
        .await
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
