//! Group commit: concurrent requests' rows are coalesced into one multi-row
//! insert per transaction, and each request is answered once the transaction
//! holding its row has committed (or failed: then every request of the
//! batch gets the error, and nothing of it was stored).
//!
//! Batches form by themselves under load: a batch is sent as soon as a
//! transaction slot is free; while all slots are busy, arriving rows join the
//! next batch (up to `max_batch`). An optional short `linger` waits for more
//! rows before sending even when a slot is free.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use store::inbox::NewEvent;
use store::PgPool;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Why a webhook was not stored (nothing of its batch was).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The collector task is gone (the server is shutting down).
    #[error("the batcher stopped")]
    Stopped,
    /// The batch was dropped before it answered (its task panicked).
    #[error("the batch was dropped")]
    Dropped,
    /// The insert transaction failed.
    #[error(transparent)]
    Store(Arc<store::Error>),
    /// The transaction reported no id for a row it was given.
    #[error("row of source {0:?} vanished from its batch")]
    Vanished(String),
}

/// The stored row's id, and whether it was stored before (a duplicate).
pub type Stored = Result<(i64, bool), SubmitError>;

struct Pending {
    row: NewEvent,
    reply: oneshot::Sender<Stored>,
}

/// Group-commit settings.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Most rows per transaction.
    pub max_batch: usize,
    /// Transactions in flight at once.
    pub max_in_flight: usize,
    /// How long a batch waits for more rows when a slot is free (0: none).
    pub linger: Duration,
    /// Yeastar duplicate window (see `IngestConfig`).
    pub yeastar_dedup_window: Duration,
}

/// The handle requests submit their rows to.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Pending>,
}

/// When each source's `last_received_at` was last written by this process.
type Stamps = Arc<std::sync::Mutex<HashMap<String, std::time::Instant>>>;

impl Batcher {
    /// Starts the collector task on the current runtime.
    pub fn start(pool: PgPool, cfg: BatchConfig) -> Batcher {
        let (tx, rx) = mpsc::channel(cfg.max_batch.max(1) * cfg.max_in_flight.max(1) * 4);
        tokio::spawn(collect(rx, pool, cfg));
        Batcher { tx }
    }

    /// Stores `row` with others. Returns once its transaction committed
    /// (`Ok`) or failed (`Err`, nothing stored).
    pub async fn submit(&self, row: NewEvent) -> Stored {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { row, reply })
            .await
            .map_err(|_| SubmitError::Stopped)?;
        rx.await.map_err(|_| SubmitError::Dropped)?
    }
}

async fn collect(mut rx: mpsc::Receiver<Pending>, pool: PgPool, cfg: BatchConfig) {
    let slots = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
    let stamps: Stamps = Arc::default();
    let max = cfg.max_batch.max(1);
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        if !cfg.linger.is_zero() && batch.len() < max {
            let deadline = tokio::time::Instant::now() + cfg.linger;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    _ => break,
                }
            }
        }
        // While every slot is busy, arriving rows join this batch.
        let permit = loop {
            if batch.len() >= max {
                break slots.clone().acquire_owned().await;
            }
            tokio::select! {
                biased;
                p = slots.clone().acquire_owned() => break p,
                next = rx.recv() => match next {
                    Some(p) => batch.push(p),
                    None => break slots.clone().acquire_owned().await,
                },
            }
        };
        let Ok(permit) = permit else { return };
        let pool = pool.clone();
        let window = cfg.yeastar_dedup_window;
        let stamps = stamps.clone();
        tokio::spawn(async move {
            let result = commit(&pool, &batch, window).await;
            drop(permit);
            metrics::histogram!("switchboard_ingest_group_commit_size").record(batch.len() as f64);
            match result {
                Ok(answers) => {
                    let sources = due_stamps(&stamps, &batch);
                    for (p, a) in batch.into_iter().zip(answers) {
                        let _ = p.reply.send(Ok(a));
                    }
                    stamp_sources(&pool, sources).await;
                }
                Err(e) => {
                    for p in batch {
                        let _ = p.reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// The sources of a committed batch whose `last_received_at` was written
/// more than a second ago (or never) by this process; marks them written.
fn due_stamps(stamps: &Stamps, batch: &[Pending]) -> Vec<String> {
    let Ok(mut seen) = stamps.lock() else {
        return Vec::new();
    };
    let mut due = Vec::new();
    for p in batch {
        let fresh = seen
            .get(&p.row.source)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        if !fresh {
            seen.insert(p.row.source.clone(), std::time::Instant::now());
            due.push(p.row.source.clone());
        }
    }
    due
}

/// Records that `sources` just received events (best effort: a statistic
/// for `worker stats`, written after the requests were answered).
async fn stamp_sources(pool: &PgPool, sources: Vec<String>) {
    if sources.is_empty() {
        return;
    }
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    if let Err(e) = store::sources::stamp_received(&mut conn, &sources).await {
        tracing::debug!(error = %e, "could not record last_received_at");
    }
}

/// Stores a batch in one transaction. Returns, for each pending row in
/// order, its id and whether it was already stored.
async fn commit(
    pool: &PgPool,
    batch: &[Pending],
    window: Duration,
) -> Result<Vec<(i64, bool)>, SubmitError> {
    let store_err = |e: store::Error| SubmitError::Store(Arc::new(e));
    let mut conn = pool.get().await.map_err(|e| store_err(e.into()))?;
    // Identical rows in one batch (concurrent retries) are inserted once.
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut unique = Vec::new();
    for (i, p) in batch.iter().enumerate() {
        first_of
            .entry((&p.row.source, &p.row.dedup_key))
            .or_insert_with(|| {
                unique.push(i);
                i
            });
    }
    let rows: Vec<&NewEvent> = unique.iter().map(|i| &batch[*i].row).collect();
    let (inserted, existing) = store::inbox::insert(&mut conn, &rows, window)
        .await
        .map_err(store_err)?;
    let mut answers = Vec::with_capacity(batch.len());
    let mut answered_first: HashMap<(&str, &str), bool> = HashMap::new();
    for p in batch {
        let key = (p.row.source.as_str(), p.row.dedup_key.as_str());
        let owned = (p.row.source.clone(), p.row.dedup_key.clone());
        let (id, new) = if let Some(id) = inserted.get(&owned) {
            (*id, true)
        } else if let Some(id) = existing.get(&owned) {
            (*id, false)
        } else {
            return Err(SubmitError::Vanished(p.row.source.clone()));
        };
        // Only the first of identical rows is "accepted".
        let dup = !new || answered_first.insert(key, true).is_some();
        answers.push((id, dup));
    }
    Ok(answers)
}
