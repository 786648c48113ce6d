//! When a failed event is tried again: exponential backoff with jitter, and
//! the attempt after which it is dead.

use std::time::Duration;

use chrono::Utc;
use store::inbox::{Claimed, Outcome};

use crate::WorkerConfig;

/// The delay before retry number `attempts` (1-based): exponential from
/// `base`, capped at `cap`, with jitter in [50%, 100%] drawn from
/// `jitter_seed`, so that failures spread out.
pub fn backoff(base: Duration, cap: Duration, attempts: i32, jitter_seed: u64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let capped = base.saturating_mul(2u32.saturating_pow(exp)).min(cap);
    let frac = 0.5 + fastrand::Rng::with_seed(jitter_seed).f64() / 2.0;
    capped.mul_f64(frac)
}

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
        let delay = backoff(cfg.backoff_base, cfg.backoff_cap, attempts, seed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        for seed in 0..50 {
            let d1 = backoff(base, cap, 1, seed);
            assert!(
                d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1),
                "{d1:?}"
            );
            let d4 = backoff(base, cap, 4, seed);
            assert!(
                d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8),
                "{d4:?}"
            );
            let d20 = backoff(base, cap, 20, seed);
            assert!(
                d20 >= Duration::from_secs(30) && d20 <= Duration::from_secs(60),
                "{d20:?}"
            );
        }
        let spread: std::collections::BTreeSet<_> =
            (0..50).map(|s| backoff(base, cap, 3, s)).collect();
        assert!(spread.len() > 10, "jitter spreads retries");
    }
}
