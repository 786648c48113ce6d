//! Source settings (provider, secrets, enabled), cached for a short TTL so
//! that a webhook costs no lookup query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::sources::Verifier;
use store::PgPool;

use crate::IngestError;

/// Entries kept at most: names come from URLs and must not grow the cache.
const MAX_ENTRIES: usize = 1024;

/// A source's settings (`None`: unknown or disabled) and when they were read.
type Entry = (Instant, Option<Arc<Verifier>>);

/// The cache.
pub struct SourceCache {
    pool: PgPool,
    ttl: Duration,
    db_timeout: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SourceCache {
    /// A cache over `pool`, entries fresh for `ttl` (zero: always look up).
    pub fn new(pool: PgPool, ttl: Duration, db_timeout: Duration) -> Self {
        SourceCache {
            pool,
            ttl,
            db_timeout,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the settings of source `name` (`None`: unknown or disabled),
    /// from the cache when fresh, else from the database.
    pub async fn get(&self, name: &str) -> Result<Option<Arc<Verifier>>, IngestError> {
        if let Some(hit) = self.fresh(name) {
            return Ok(hit);
        }
        let deadline = self.db_timeout;
        let mut conn = tokio::time::timeout(deadline, self.pool.get())
            .await
            .map_err(|_| IngestError::unavailable("timed out waiting for a connection"))?
            .map_err(IngestError::unavailable)?;
        let found = tokio::time::timeout(deadline, store::sources::lookup(&mut conn, name))
            .await
            .map_err(|_| IngestError::unavailable("source lookup timed out"))?
            .map_err(IngestError::unavailable)?
            .map(Arc::new);
        self.keep(name, found.clone());
        Ok(found)
    }

    fn fresh(&self, name: &str) -> Option<Option<Arc<Verifier>>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (at, v) = entries.get(name)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    fn keep(&self, name: &str, v: Option<Arc<Verifier>>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(name.to_string(), (Instant::now(), v));
        }
    }
}
