//! How many lanes run at once: in all (`--concurrency`) and to one endpoint
//! (`--per-endpoint`), shared by the claimed runs and the handed-over
//! chains. A handed-over chain waits for its endpoint's permit, then for a
//! slot; a claimed run holds a slot and only tries its endpoint's permit
//! (claims take only the room there is, so it seldom fails, and a failure
//! gives the run back). Nothing waits for a permit while holding a slot: a
//! slow endpoint's waiting lanes never hold the slots the others need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use store::events_out::Room;
use tokio::sync::Semaphore;

/// The slots and the per-endpoint permits.
pub struct Limits {
    /// Lanes in flight in this process.
    pub slots: Arc<Semaphore>,
    per_endpoint: usize,
    endpoints: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

impl Limits {
    pub fn new(concurrency: usize, per_endpoint: usize) -> Self {
        Limits {
            slots: Arc::new(Semaphore::new(concurrency)),
            per_endpoint,
            endpoints: Mutex::default(),
        }
    }

    /// The permits of endpoint `id` (made on first use).
    pub fn endpoint(&self, id: i64) -> Arc<Semaphore> {
        lock(&self.endpoints)
            .entry(id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_endpoint)))
            .clone()
    }

    /// The room each endpoint has left in this process.
    pub fn room(&self) -> Room {
        let endpoints = lock(&self.endpoints);
        Room {
            endpoints: endpoints.keys().copied().collect(),
            room: endpoints
                .values()
                .map(|s| s.available_permits() as i64)
                .collect(),
            default: self.per_endpoint as i64,
        }
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
