//! The worker loop: claim a batch, parse, apply and complete it in one
//! transaction, repeat.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use domain::db::PgPool;
use domain::store::{self, Item};
use domain::{Effect, Envelope, Parsed, Provider};
use futures_util::FutureExt;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

use crate::storage::{self, Claimed, Outcome};

/// How a worker claims and retries.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Events claimed per transaction.
    pub batch_size: i64,
    /// Sleep between claims when the inbox is empty.
    pub poll_interval: Duration,
    /// Attempts before an event is dead.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            batch_size: 100,
            poll_interval: Duration::from_millis(200),
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
        }
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub applied: usize,
    pub ignored: usize,
    pub failed: usize,
    pub dead: usize,
}

/// Errors that end a batch (the transaction rolled back; nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("no database connection: {0}")]
    Pool(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// The delay before retry number `attempts` (1-based): exponential from
/// `base`, capped, with jitter in [50%, 100%] so that failures spread out.
pub fn backoff(cfg: &WorkerConfig, attempts: i32, jitter_seed: u64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let raw = cfg.backoff_base.saturating_mul(2u32.saturating_pow(exp));
    let capped = raw.min(cfg.backoff_cap);
    // splitmix64 of the seed: cheap, no shared RNG state.
    let mut z = jitter_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let frac = 0.5 + (z % 1000) as f64 / 2000.0;
    capped.mul_f64(frac)
}

/// A parsed claim, or why it failed.
type ParseResult = Result<Parsed, String>;

fn parse_one(provider: Option<Provider>, c: &Claimed) -> ParseResult {
    let Some(provider) = provider else {
        return Err(format!("source {:?} does not exist", c.source));
    };
    let env = Envelope {
        id: c.id,
        received_at: c.received_at,
    };
    // A panic in a parser is this event's failure, never the batch's.
    match std::panic::catch_unwind(AssertUnwindSafe(|| domain::parse(provider, &c.body, env))) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(format!("panic while parsing: {}", panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Test builds only: panics while applying a batch that holds an event of the
/// source named by `SWITCHBOARD_FAILPOINT_PANIC_SOURCE`, to prove a panic
/// costs one event, not the worker or its batch. Compiled out of release builds.
#[cfg(debug_assertions)]
fn failpoint(items: &[Item<'_>]) {
    if let Ok(source) = std::env::var("SWITCHBOARD_FAILPOINT_PANIC_SOURCE") {
        if items.iter().any(|i| i.source == source) {
            panic!("failpoint: event of source {source}");
        }
    }
}

#[cfg(not(debug_assertions))]
fn failpoint(_: &[Item<'_>]) {}

/// The worker: a pool and a config, with a cache of source providers.
pub struct Worker {
    pool: PgPool,
    cfg: WorkerConfig,
    providers: HashMap<String, Provider>,
}

impl Worker {
    /// A worker over `pool`.
    pub fn new(pool: PgPool, cfg: WorkerConfig) -> Self {
        Worker {
            pool,
            cfg,
            providers: HashMap::new(),
        }
    }

    /// Runs until `shutdown` turns true, then returns after the current
    /// batch committed. Between batches it sleeps until `wake` is notified
    /// (LISTEN/NOTIFY) or the poll interval passes; after a full batch it
    /// claims again at once. Database errors are logged and retried with
    /// backoff.
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
        let mut error_streak: i32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.process_next().await {
                Ok(r) => {
                    error_streak = 0;
                    if r.claimed > 0 {
                        tracing::debug!(?r, "batch done");
                    }
                    if r.claimed as i64 >= self.cfg.batch_size {
                        continue; // a full batch: there is likely more
                    }
                    self.cfg.poll_interval
                }
                Err(e) => {
                    error_streak += 1;
                    let d = backoff(
                        &WorkerConfig {
                            backoff_base: Duration::from_millis(200),
                            backoff_cap: Duration::from_secs(10),
                            ..self.cfg.clone()
                        },
                        error_streak,
                        error_streak as u64,
                    );
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
            total.claimed += r.claimed;
            total.applied += r.applied;
            total.ignored += r.ignored;
            total.failed += r.failed;
            total.dead += r.dead;
            if r.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Claims and processes one batch. When applying the batch fails in the
    /// database, its events are retried one per transaction, so that one bad
    /// event cannot hold back the others. Returns what the batch did.
    pub async fn process_next(&mut self) -> Result<BatchReport, WorkerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| WorkerError::Pool(e.to_string()))?;
        let limit = self.cfg.batch_size;
        match self.process(&mut conn, Claim::Next(limit)).await {
            Ok(r) => Ok(r),
            Err(BatchError::Apply(ids, e)) => {
                tracing::warn!(error = %e, events = ids.len(), "batch apply failed; retrying its events one by one");
                let mut total = BatchReport::default();
                for id in ids {
                    let r = match self.process(&mut conn, Claim::One(id)).await {
                        Ok(r) => r,
                        Err(BatchError::Apply(_, e)) => self.fail_alone(&mut conn, id, e).await?,
                        Err(BatchError::Db(e)) => return Err(e.into()),
                    };
                    total.claimed += r.claimed;
                    total.applied += r.applied;
                    total.ignored += r.ignored;
                    total.failed += r.failed;
                    total.dead += r.dead;
                }
                Ok(total)
            }
            Err(BatchError::Db(e)) => Err(e.into()),
        }
    }

    fn failure(&self, c: &Claimed, event_type: Option<String>, error: String) -> Outcome {
        let attempts = c.attempts + 1;
        let retry_at = (attempts < self.cfg.max_attempts).then(|| {
            let seed = (c.id as u64).wrapping_mul(31).wrapping_add(attempts as u64);
            Utc::now()
                + chrono::Duration::from_std(backoff(&self.cfg, attempts, seed))
                    .unwrap_or_else(|_| chrono::Duration::seconds(1))
        });
        Outcome::Failed {
            event_type,
            error,
            retry_at,
        }
    }

    async fn process(
        &mut self,
        conn: &mut AsyncPgConnection,
        what: Claim,
    ) -> Result<BatchReport, BatchError> {
        // The provider cache is moved into the transaction closure, which
        // only borrows the rest of the worker.
        let mut providers = std::mem::take(&mut self.providers);
        let cfg_self = &*self;
        let started = Instant::now();
        let result = conn
            .transaction::<Committed, BatchError, _>(async |conn| {
                let claimed = match what {
                    Claim::Next(n) => storage::claim(conn, n).await?,
                    Claim::One(id) => storage::claim_ids(conn, &[id]).await?,
                };
                let claim_secs = started.elapsed().as_secs_f64();
                let mut missing: Vec<String> = claimed
                    .iter()
                    .filter(|c| !providers.contains_key(&c.source))
                    .map(|c| c.source.clone())
                    .collect();
                missing.sort();
                missing.dedup();
                if !missing.is_empty() {
                    for (name, p) in storage::providers(conn, &missing).await? {
                        if let Ok(p) = p.parse() {
                            providers.insert(name, p);
                        }
                    }
                }
                let parsed: Vec<ParseResult> = claimed
                    .iter()
                    .map(|c| parse_one(providers.get(&c.source).copied(), c))
                    .collect();
                let mut report = BatchReport {
                    claimed: claimed.len(),
                    ..Default::default()
                };
                let mut items = Vec::with_capacity(claimed.len());
                let mut outcomes = Vec::with_capacity(claimed.len());
                for (c, p) in claimed.iter().zip(&parsed) {
                    let span = tracing::info_span!(
                        "event",
                        id = c.id,
                        source = %c.source,
                        event_type = tracing::field::Empty
                    );
                    let _g = span.enter();
                    match p {
                        Ok(p) => {
                            span.record("event_type", p.event_type.as_str());
                            for note in &p.notes {
                                tracing::warn!("{note}");
                            }
                            if matches!(p.effect, Effect::Ignored) {
                                report.ignored += 1;
                                outcomes.push((
                                    c.id,
                                    Outcome::Ignored {
                                        event_type: p.event_type.clone(),
                                    },
                                ));
                            } else {
                                report.applied += 1;
                                items.push(Item {
                                    source: &c.source,
                                    received_at: c.received_at,
                                    effect: &p.effect,
                                });
                                outcomes.push((
                                    c.id,
                                    Outcome::Applied {
                                        event_type: p.event_type.clone(),
                                    },
                                ));
                            }
                        }
                        Err(e) => {
                            let o = cfg_self.failure(c, None, e.clone());
                            if matches!(o, Outcome::Failed { retry_at: None, .. }) {
                                report.dead += 1;
                                tracing::error!(error = %e, attempts = c.attempts + 1, "event is dead");
                            } else {
                                report.failed += 1;
                                tracing::warn!(error = %e, attempts = c.attempts + 1, "event failed");
                            }
                            outcomes.push((c.id, o));
                        }
                    }
                }
                // A panic while applying is caught like an error: the batch
                // rolls back and its events are retried one by one, so only the
                // event that panics fails.
                let applied = AssertUnwindSafe(async {
                    failpoint(&items);
                    store::apply(conn, &items).await
                })
                .catch_unwind()
                .await;
                let ids = || claimed.iter().map(|c| c.id).collect();
                match applied {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(BatchError::Apply(ids(), e.to_string())),
                    Err(panic) => {
                        return Err(BatchError::Apply(
                            ids(),
                            format!("panic while applying: {}", panic_message(&*panic)),
                        ))
                    }
                }
                storage::complete(conn, &outcomes).await?;
                Ok(Committed {
                    report,
                    outcomes,
                    claim_secs,
                })
            })
            .await;
        self.providers = providers;
        let committed = result?;
        // Counted only once the transaction committed.
        metrics::histogram!("switchboard_worker_claim_seconds").record(committed.claim_secs);
        if committed.report.claimed > 0 {
            metrics::histogram!("switchboard_worker_batch_size")
                .record(committed.report.claimed as f64);
            metrics::histogram!("switchboard_worker_apply_seconds")
                .record(started.elapsed().as_secs_f64() - committed.claim_secs);
        }
        record_outcomes(&committed.outcomes);
        Ok(committed.report)
    }

    /// Records a failure for an event whose own transaction failed to apply.
    async fn fail_alone(
        &mut self,
        conn: &mut AsyncPgConnection,
        id: i64,
        error: String,
    ) -> Result<BatchReport, WorkerError> {
        let mut report = BatchReport::default();
        let msg = if error.starts_with("panic") {
            error
        } else {
            format!("applying failed: {error}")
        };
        let outcomes = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let claimed = storage::claim_ids(conn, &[id]).await?;
                let mut outcomes = Vec::new();
                for c in &claimed {
                    let o = self.failure(c, None, msg.clone());
                    if matches!(o, Outcome::Failed { retry_at: None, .. }) {
                        report.dead += 1;
                    } else {
                        report.failed += 1;
                    }
                    tracing::warn!(id = c.id, source = %c.source, error = %msg, "event failed");
                    outcomes.push((c.id, o));
                }
                report.claimed = claimed.len();
                storage::complete(conn, &outcomes).await?;
                Ok(outcomes)
            })
            .await?;
        record_outcomes(&outcomes);
        Ok(report)
    }
}

/// What a committed batch did, for the report and the metrics.
struct Committed {
    report: BatchReport,
    outcomes: Vec<(i64, Outcome)>,
    claim_secs: f64,
}

/// Counts events by type and outcome (`processed`, `ignored`, `failed`, `dead`).
fn record_outcomes(outcomes: &[(i64, Outcome)]) {
    for (_, o) in outcomes {
        let (event_type, outcome) = match o {
            Outcome::Applied { event_type } => (event_type.clone(), "processed"),
            Outcome::Ignored { event_type } => (event_type.clone(), "ignored"),
            Outcome::Failed {
                event_type,
                retry_at,
                ..
            } => (
                event_type.clone().unwrap_or_else(|| "unknown".into()),
                if retry_at.is_some() { "failed" } else { "dead" },
            ),
        };
        metrics::counter!("switchboard_worker_events_total", "event_type" => event_type, "outcome" => outcome)
            .increment(1);
    }
}

enum Claim {
    Next(i64),
    One(i64),
}

enum BatchError {
    /// Applying failed (an error or a panic): the ids of the batch, to be
    /// retried one by one.
    Apply(Vec<i64>, String),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for BatchError {
    fn from(e: diesel::result::Error) -> Self {
        BatchError::Db(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let cfg = WorkerConfig {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            ..Default::default()
        };
        for seed in 0..50 {
            let d1 = backoff(&cfg, 1, seed);
            assert!(
                d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1),
                "{d1:?}"
            );
            let d4 = backoff(&cfg, 4, seed);
            assert!(
                d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8),
                "{d4:?}"
            );
            let d20 = backoff(&cfg, 20, seed);
            assert!(
                d20 >= Duration::from_secs(30) && d20 <= Duration::from_secs(60),
                "{d20:?}"
            );
        }
        let spread: std::collections::BTreeSet<_> = (0..50).map(|s| backoff(&cfg, 3, s)).collect();
        assert!(spread.len() > 10, "jitter spreads retries");
    }
}
