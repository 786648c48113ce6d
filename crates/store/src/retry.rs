//! How the binaries wait before trying the database again: exponential
//! backoff, written once. The reconnect loops (LISTEN, the board's feed),
//! the start-up waits (`worker migrate`, `worker wait-schema`), the batch
//! loop's error backoff and the retries of failed events all use it.

use std::time::Duration;

/// The delay before retry number `attempts` (1-based): `base`, doubled per
/// attempt, capped at `cap`.
pub fn exponential(base: Duration, cap: Duration, attempts: i32) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    base.saturating_mul(2u32.saturating_pow(exp)).min(cap)
}

/// [`exponential`] with jitter in [50%, 100%] drawn from `jitter_seed`, so
/// that failures spread out.
pub fn backoff(base: Duration, cap: Duration, attempts: i32, jitter_seed: u64) -> Duration {
    let frac = 0.5 + fastrand::Rng::with_seed(jitter_seed).f64() / 2.0;
    exponential(base, cap, attempts).mul_f64(frac)
}

/// The delays of a run of retries: [`Backoff::next_delay`] gives `base`, then
/// twice as long each time up to `cap`, until [`Backoff::reset`].
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempts: i32,
}

impl Backoff {
    /// A run of retries starting at `base`, never waiting more than `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempts: 0,
        }
    }

    /// Counts a failure. Returns how long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        exponential(self.base, self.cap, self.attempts)
    }

    /// [`Backoff::next_delay`] with jitter (see [`backoff`]), seeded with the
    /// number of failures so far.
    pub fn next_delay_jittered(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        backoff(self.base, self.cap, self.attempts, self.attempts as u64)
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Failures counted since the last reset.
    pub fn attempts(&self) -> i32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn doubles_from_the_base_up_to_the_cap_until_reset() {
        let mut b = Backoff::new(MS(200), Duration::from_secs(5));
        let delays: Vec<_> = (0..7).map(|_| b.next_delay()).collect();
        assert_eq!(
            delays,
            [
                MS(200),
                MS(400),
                MS(800),
                MS(1600),
                MS(3200),
                MS(5000),
                MS(5000)
            ]
        );
        assert_eq!(b.attempts(), 7);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.next_delay(), MS(200));
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..1000 {
            assert!(b.next_delay() <= Duration::from_secs(60));
        }
        assert_eq!(
            exponential(Duration::MAX, Duration::from_secs(1), i32::MAX),
            Duration::from_secs(1)
        );
        assert_eq!(exponential(MS(10), Duration::MAX, -5), MS(10));
    }

    #[test]
    fn jitter_stays_within_half_and_whole_of_the_delay() {
        let mut b = Backoff::new(MS(200), Duration::from_secs(10));
        for attempt in 1..=10 {
            let d = b.next_delay_jittered();
            let full = exponential(MS(200), Duration::from_secs(10), attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        for seed in 0..50 {
            let d1 = backoff(base, cap, 1, seed);
            assert!(d1 >= MS(500) && d1 <= Duration::from_secs(1), "{d1:?}");
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
