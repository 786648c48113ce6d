//! Source settings (provider, secrets, enabled), cached for a short TTL so
//! that a webhook costs no lookup query.
//!
//! Secrets are sealed in the database; the cache opens them with the keyring
//! of `SWITCHBOARD_SECRETS_KEY` (and `SWITCHBOARD_SECRETS_KEY_PREVIOUS`),
//! read from the environment once, when the cache is built (`main` refuses
//! to start without it). It fails closed: a source whose secrets do not all
//! open (key missing or wrong, a tampered row) answers 503, with an error
//! logged at most once per TTL, and is never verified with fewer secrets
//! than it has, nor as unsigned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::secrets::{KeyError, Keyring};
use store::sources::{LookupError, Verifier};
use store::PgPool;

use crate::IngestError;

/// Entries kept at most: names come from URLs and must not grow the cache.
const MAX_ENTRIES: usize = 1024;

/// What a lookup found.
#[derive(Clone)]
enum Found {
    Source(Known),
    /// Unknown or disabled.
    Missing,
    /// Its secrets do not open.
    Sealed,
}

/// A source that exists: its settings, and its name shared (a metrics
/// label and a log field that cost no copy per request).
#[derive(Clone)]
pub struct Known {
    pub verifier: Arc<Verifier>,
    pub name: Arc<str>,
}

/// A source's settings and when they were read.
type Entry = (Instant, Found);

/// The cache.
pub struct SourceCache {
    pool: PgPool,
    ttl: Duration,
    db_timeout: Duration,
    keys: Result<Arc<Keyring>, Arc<KeyError>>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SourceCache {
    /// A cache over `pool`, entries fresh for `ttl` (zero: always look up),
    /// opening secrets with the keyring of the environment.
    pub fn new(pool: PgPool, ttl: Duration, db_timeout: Duration) -> Self {
        let keys = Keyring::from_env().map(Arc::new).map_err(Arc::new);
        if let Err(e) = &keys {
            tracing::error!(error = %e, "no secrets key: every signed source will answer 503");
        }
        SourceCache {
            pool,
            ttl,
            db_timeout,
            keys,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the settings of source `name` (`None`: unknown or disabled),
    /// from the cache when fresh, else from the database. Fails with 503
    /// when the database is unavailable or the source's secrets do not
    /// open.
    pub async fn get(&self, name: &str) -> Result<Option<Known>, IngestError> {
        let found = match self.fresh(name) {
            Some(hit) => hit,
            None => {
                let found = self.look_up(name).await?;
                self.keep(name, found.clone());
                found
            }
        };
        match found {
            Found::Missing => Ok(None),
            Found::Sealed => Err(IngestError::Unavailable),
            Found::Source(v) => Ok(Some(v)),
        }
    }

    async fn look_up(&self, name: &str) -> Result<Found, IngestError> {
        let keys = match &self.keys {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(source = %name, error = %e, "cannot open the source's secrets: answering 503");
                return Ok(Found::Sealed);
            }
        };
        let found = store::run(
            &self.pool,
            self.db_timeout,
            "looking up a source",
            store::Access::Read,
            async |c| match store::sources::lookup(c, name, keys).await {
                Err(LookupError::Store(e)) => Err(e),
                other => Ok(other),
            },
        )
        .await
        .map_err(|e| IngestError::db_unavailable(&e))?;
        match found {
            Ok(Some(v)) => {
                if v.plaintext_secrets > 0 {
                    tracing::warn!(source = %name, plaintext = v.plaintext_secrets,
                        "secrets stored in plaintext: run `worker migrate` with SWITCHBOARD_SECRETS_KEY to seal them");
                }
                Ok(Found::Source(Known {
                    verifier: Arc::new(v),
                    name: Arc::from(name),
                }))
            }
            Ok(None) => Ok(Found::Missing),
            Err(e @ (LookupError::Sealed { .. } | LookupError::Network { .. })) => {
                tracing::error!(source = %name, error = %e,
                    "cannot open the source's secrets: answering 503 (is SWITCHBOARD_SECRETS_KEY the key they were sealed with?)");
                Ok(Found::Sealed)
            }
            Err(LookupError::Store(e)) => Err(IngestError::db_unavailable(&e)),
        }
    }

    fn fresh(&self, name: &str) -> Option<Found> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (at, v) = entries.get(name)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    fn keep(&self, name: &str, v: Found) {
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
