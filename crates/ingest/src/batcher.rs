//! Group commit: concurrent requests' rows are coalesced into one multi-row
//! insert per transaction, and each request is answered once the transaction
//! holding its row has committed (or failed: then every request of the
//! batch gets the error, and nothing of it was stored).
//!
//! A batch whose transaction fails for what a row holds (not because the
//! database is unavailable) is retried row by row, so that one bad row is
//! refused alone and never fails its neighbours.
//!
//! Batches form by themselves under load: a batch is sent as soon as a
//! transaction slot is free; while all slots are busy, arriving rows join the
//! next batch (up to `max_batch`). An optional short `linger` waits for more
//! rows before sending even when a slot is free.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use store::inbox::NewEvent;
use store::{Access, PgPool};
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
    /// The database is unavailable; nothing of the batch was stored.
    #[error(transparent)]
    Store(Arc<store::Error>),
    /// The database refused this row for what it holds (alone, in a
    /// transaction of its own); retrying it as is cannot succeed.
    #[error("refused by the database: {0}")]
    Rejected(Arc<store::Error>),
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
    /// Longest time one transaction may take, connection included.
    pub deadline: Duration,
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
        let (window, deadline) = (cfg.yeastar_dedup_window, cfg.deadline);
        let stamps = stamps.clone();
        tokio::spawn(async move {
            let result = commit(&pool, &batch, window, deadline).await;
            drop(permit);
            metrics::histogram!("switchboard_ingest_group_commit_size").record(batch.len() as f64);
            match result {
                Ok(answers) => {
                    let sources = due_stamps(&stamps, &batch);
                    for (p, a) in batch.into_iter().zip(answers) {
                        let _ = p.reply.send(a);
                    }
                    stamp_sources(&pool, sources, deadline).await;
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
async fn stamp_sources(pool: &PgPool, sources: Vec<String>, deadline: Duration) {
    if sources.is_empty() {
        return;
    }
    let stamped = store::run(
        pool,
        deadline,
        "stamping sources",
        Access::Write,
        async |c| store::sources::stamp_received(c, &sources).await,
    )
    .await;
    if let Err(e) = stamped {
        tracing::debug!(error = %e, "could not record last_received_at");
    }
}

/// One answer per unique row, by `(source, dedup_key)` (borrowed from the
/// batch: no copy of either per request).
type RowAnswers<'a> = HashMap<(&'a str, &'a str), Stored>;

/// A storage error as the requests see it: the database's fault (503) or
/// the row's (4xx).
fn classify(e: store::Error) -> SubmitError {
    if e.is_unavailable() {
        SubmitError::Store(Arc::new(e))
    } else {
        SubmitError::Rejected(Arc::new(e))
    }
}

/// Stores a batch in one transaction, or, when that fails for what a row
/// holds, row by row. Returns, for each pending row in order, its id and
/// whether it was already stored, or why it was not stored; `Err` when
/// nothing could be stored (the database is unavailable).
async fn commit(
    pool: &PgPool,
    batch: &[Pending],
    window: Duration,
    deadline: Duration,
) -> Result<Vec<Stored>, SubmitError> {
    // Identical rows in one batch (concurrent retries) are inserted once.
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<&NewEvent> = batch
        .iter()
        .map(|p| &p.row)
        .filter(|r| seen.insert((r.source.as_str(), r.dedup_key.as_str())))
        .collect();
    let rows = &rows;
    let answers = store::run(pool, deadline, "storing webhooks", Access::Write, async |conn| {
        match store::inbox::insert(conn, rows, window).await {
            Ok((inserted, existing)) => Ok(answers_of(rows, &inserted, &existing)),
            Err(e) if e.is_unavailable() || rows.len() == 1 => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, rows = rows.len(), "batch insert refused; retrying its rows one by one");
                Ok(one_by_one(conn, rows, window).await)
            }
        }
    })
    .await
    .map_err(classify)?;
    // Only the first of identical rows is "accepted"; the others are
    // duplicates of it.
    let mut answered = std::collections::HashSet::new();
    Ok(batch
        .iter()
        .map(|p| {
            let key = (p.row.source.as_str(), p.row.dedup_key.as_str());
            let first = answered.insert(key);
            match answers.get(&key) {
                Some(Ok((id, dup))) => Ok((*id, *dup || !first)),
                Some(Err(e)) => Err(e.clone()),
                None => Err(SubmitError::Vanished(p.row.source.clone())),
            }
        })
        .collect())
}

/// The answer of each row of a committed insert: its id, and whether it was
/// stored before.
fn answers_of<'a>(
    rows: &[&'a NewEvent],
    inserted: &store::inbox::EventIds,
    existing: &store::inbox::EventIds,
) -> RowAnswers<'a> {
    rows.iter()
        .map(|r| {
            let key = (r.source.as_str(), r.dedup_key.as_str());
            let answer = match (inserted.get(key.0, key.1), existing.get(key.0, key.1)) {
                (Some(id), _) => Ok((id, false)),
                (None, Some(id)) => Ok((id, true)),
                (None, None) => Err(SubmitError::Vanished(r.source.clone())),
            };
            (key, answer)
        })
        .collect()
}

/// Stores each row in a transaction of its own. Returns each row's answer.
async fn one_by_one<'a>(
    conn: &mut diesel_async::AsyncPgConnection,
    rows: &[&'a NewEvent],
    window: Duration,
) -> RowAnswers<'a> {
    let mut answers = RowAnswers::new();
    for row in rows {
        match store::inbox::insert(conn, &[*row], window).await {
            Ok((inserted, existing)) => answers.extend(answers_of(&[*row], &inserted, &existing)),
            Err(e) => {
                let key = (row.source.as_str(), row.dedup_key.as_str());
                answers.insert(key, Err(classify(e)));
            }
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Provider;

    fn event(key: &str) -> NewEvent {
        NewEvent {
            source: "pbx".into(),
            provider: Provider::Yeastar,
            dedup_key: key.into(),
            body: b"{}".to_vec(),
            headers: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_row_the_database_refuses_fails_alone() {
        let db = testkit::TestDb::new().await.expect("db");
        let pool = store::pool(&db.url, 2, Duration::from_secs(5)).expect("pool");
        let batcher = Batcher::start(
            pool,
            BatchConfig {
                max_batch: 100,
                max_in_flight: 1,
                // Long enough that all seven rows share one transaction.
                linger: Duration::from_millis(300),
                yeastar_dedup_window: Duration::from_secs(60),
                deadline: Duration::from_secs(5),
            },
        );
        // PostgreSQL refuses a NUL in text: the row is bad, the database fine.
        let keys = ["k1", "k2", "k3", "bad\0key", "k4", "k5", "k1"];
        let answers =
            futures_util::future::join_all(keys.iter().map(|k| batcher.submit(event(k)))).await;
        for (k, a) in keys.iter().zip(&answers) {
            match (*k, a) {
                ("bad\0key", Err(SubmitError::Rejected(_))) => {}
                ("bad\0key", other) => panic!("the bad row got {other:?}"),
                (_, Ok(_)) => {}
                (k, Err(e)) => panic!("row {k:?} failed with its bad neighbour: {e}"),
            }
        }
        // The repeated k1 is answered as a duplicate of the first.
        assert!(matches!(answers[0], Ok((_, false))), "{:?}", answers[0]);
        assert!(matches!(answers[6], Ok((_, true))), "{:?}", answers[6]);
        assert_eq!(
            db.count("SELECT count(*) AS n FROM webhook_events")
                .await
                .expect("count"),
            5
        );
    }
}
