//! Group commit: concurrent requests' rows are coalesced into one multi-row
//! insert per transaction, and each request is answered once the transaction
//! holding its row has committed (or failed: then every request of the
//! batch gets the error, and nothing of it was stored).
//!
//! Batches form by themselves under load: a batch is sent as soon as a
//! transaction slot is free; while all slots are busy, arriving rows join the
//! next batch (up to `max_batch`). An optional short `linger` waits for more
//! rows before sending even when a slot is free.

use domain::db::Cached;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use diesel::sql_types::{Array, BigInt, Bytea, Double, Jsonb, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::db::PgPool;
use domain::Provider;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// One verified webhook to store.
#[derive(Debug)]
pub struct Row {
    pub source: String,
    pub provider: Provider,
    pub dedup_key: String,
    pub body: Vec<u8>,
    pub headers: serde_json::Value,
}

/// Why a row was not stored: the database failed or was unreachable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// The stored row's id, and whether it was stored before (a duplicate).
pub type Stored = Result<(i64, bool), StoreError>;

struct Pending {
    row: Row,
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
    pub async fn submit(&self, row: Row) -> Stored {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { row, reply })
            .await
            .map_err(|_| StoreError("the batcher stopped".into()))?;
        rx.await
            .map_err(|_| StoreError("the batch was dropped".into()))?
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
                    let e = StoreError(e);
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
    let r = diesel::sql_query(
        "UPDATE sources SET last_received_at = now()
         WHERE name = ANY($1) AND (last_received_at IS NULL OR last_received_at < now())",
    )
    .bind::<Array<Text>, _>(&sources)
    .execute(&mut conn)
    .await;
    if let Err(e) = r {
        tracing::debug!(error = %e, "could not record last_received_at");
    }
}

#[derive(QueryableByName)]
struct IdKey {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    dedup_key: String,
}

/// Stores a batch in one transaction. Returns, for each pending row in
/// order, its id and whether it was already stored.
async fn commit(
    pool: &PgPool,
    batch: &[Pending],
    window: Duration,
) -> Result<Vec<(i64, bool)>, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
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
    let rows: Vec<&Row> = unique.iter().map(|i| &batch[*i].row).collect();
    let (inserted, existing) = conn
        .transaction::<_, diesel::result::Error, _>(async |c| insert(c, &rows, window).await)
        .await
        .map_err(|e| e.to_string())?;
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
            return Err(format!("row of {} vanished from its batch", p.row.source));
        };
        // Only the first of identical rows is "accepted".
        let dup = !new || answered_first.insert(key, true).is_some();
        answers.push((id, dup));
    }
    Ok(answers)
}

type Ids = HashMap<(String, String), i64>;

async fn insert(
    c: &mut AsyncPgConnection,
    rows: &[&Row],
    window: Duration,
) -> Result<(Ids, Ids), diesel::result::Error> {
    // Yeastar sends no event id: an identical body older than the window is
    // a new event, so its old row is retired from deduplication first.
    let (ys, yk): (Vec<&str>, Vec<&str>) = rows
        .iter()
        .filter(|r| r.provider == Provider::Yeastar)
        .map(|r| (r.source.as_str(), r.dedup_key.as_str()))
        .unzip();
    if !ys.is_empty() {
        Cached(
            diesel::sql_query(
                "UPDATE webhook_events w SET dedup_key = w.dedup_key || '@' || w.id
             FROM unnest($1::text[], $2::text[]) AS k(source, dedup_key)
             WHERE w.source = k.source AND w.dedup_key = k.dedup_key
               AND w.received_at < now() - make_interval(secs => $3)",
            )
            .bind::<Array<Text>, _>(&ys)
            .bind::<Array<Text>, _>(&yk)
            .bind::<Double, _>(window.as_secs_f64()),
        )
        .execute(c)
        .await?;
    }
    let sources: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.dedup_key.as_str()).collect();
    let bodies: Vec<&[u8]> = rows.iter().map(|r| r.body.as_slice()).collect();
    let headers: Vec<&serde_json::Value> = rows.iter().map(|r| &r.headers).collect();
    let new: Vec<IdKey> = Cached(
        diesel::sql_query(
            "INSERT INTO webhook_events (source, body, headers, dedup_key)
         SELECT * FROM unnest($1::text[], $2::bytea[], $3::jsonb[], $4::text[])
         ON CONFLICT (source, dedup_key) DO NOTHING
         RETURNING id, source, dedup_key",
        )
        .bind::<Array<Text>, _>(&sources)
        .bind::<Array<Bytea>, _>(&bodies)
        .bind::<Array<Jsonb>, _>(&headers)
        .bind::<Array<Text>, _>(&keys),
    )
    .load(c)
    .await?;
    let inserted: Ids = new
        .into_iter()
        .map(|r| ((r.source, r.dedup_key), r.id))
        .collect();
    let mut existing = Ids::new();
    if inserted.len() < rows.len() {
        let (ms, mk): (Vec<&str>, Vec<&str>) = rows
            .iter()
            .filter(|r| !inserted.contains_key(&(r.source.clone(), r.dedup_key.clone())))
            .map(|r| (r.source.as_str(), r.dedup_key.as_str()))
            .unzip();
        let found: Vec<IdKey> = Cached(
            diesel::sql_query(
                "SELECT w.id, w.source, w.dedup_key FROM webhook_events w
             JOIN unnest($1::text[], $2::text[]) AS k(source, dedup_key)
               ON w.source = k.source AND w.dedup_key = k.dedup_key",
            )
            .bind::<Array<Text>, _>(&ms)
            .bind::<Array<Text>, _>(&mk),
        )
        .load(c)
        .await?;
        existing = found
            .into_iter()
            .map(|r| ((r.source, r.dedup_key), r.id))
            .collect();
    }
    if !inserted.is_empty() {
        // One wake-up per transaction, however many rows it holds; workers
        // treat it as a hint and claim from the table.
        Cached(diesel::sql_query(format!(
            "NOTIFY {}",
            domain::db::INBOX_CHANNEL
        )))
        .execute(c)
        .await?;
    }
    Ok((inserted, existing))
}
