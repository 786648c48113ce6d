//! When a failed event is tried again: exponential backoff with jitter
//! ([`store::retry::backoff`]), and the attempt after which it is dead.

use chrono::Utc;
use store::inbox::{Claimed, Outcome};

use crate::WorkerConfig;

/// The outcome of a failed attempt at `event`: retried after its backoff,
/// or dead once it has had `max_attempts`.
pub fn failed(
    cfg: &WorkerConfig,
    event: &Claimed,
    event_type: Option<String>,
    error: String,
) -> Outcome {
    let attempts = event.attempts + 1;
    let retry_at = (attempts < cfg.max_attempts).then(|| {
        let seed = (event.id as u64)
            .wrapping_mul(31)
            .wrapping_add(attempts as u64);
        let delay = store::retry::backoff(cfg.backoff_base, cfg.backoff_cap, attempts, seed);
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1));
        let now = Utc::now();
        now.checked_add_signed(delay).unwrap_or(now)
    });
    Outcome::Failed {
        event_type,
        error,
        retry_at,
    }
}
