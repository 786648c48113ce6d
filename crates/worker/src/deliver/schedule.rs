//! When to try a delivery again: exponential backoff with jitter (the
//! delay triples per attempt from `base`, up to `cap`, each ±20 %), for
//! `retry_for` after the event (about three days by default: then given
//! up); a 429 or 503 with `Retry-After` is tried again when it says.

use std::time::Duration;

use chrono::{DateTime, Utc};
use store::events_out::Next;

/// The longest `Retry-After` honoured.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub base: Duration,
    pub cap: Duration,
    pub retry_for: Duration,
}

impl Schedule {
    /// The delay after attempt number `attempts` (1 = the first) failed,
    /// before jitter.
    pub fn delay(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base
            .saturating_mul(3u32.saturating_pow(exp))
            .min(self.cap)
    }

    /// What becomes of a delivery created at `created` whose attempt number
    /// `attempts` failed at `now`; `retry_after` from the answer, if any.
    pub fn after_failure(
        &self,
        created: DateTime<Utc>,
        attempts: i32,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
    ) -> Next {
        let give_up_at = created + chrono::Duration::from_std(self.retry_for).unwrap_or_default();
        if now >= give_up_at {
            return Next::GiveUp;
        }
        let wait = match retry_after {
            Some(d) => d.min(RETRY_AFTER_CAP),
            None => self.delay(attempts).mul_f64(0.8 + 0.4 * fastrand::f64()),
        };
        let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
        Next::Retry(at.min(give_up_at))
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (from `now`).
pub fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(12 * 3600),
            retry_for: Duration::from_secs(3 * 24 * 3600),
        }
    }

    #[test]
    fn backs_off_exponentially_over_three_days_then_gives_up() {
        let s = schedule();
        let delays: Vec<u64> = (1..=10).map(|n| s.delay(n).as_secs()).collect();
        assert_eq!(
            delays,
            [5, 15, 45, 135, 405, 1215, 3645, 10935, 32805, 43200]
        );
        // Attempts, each failing, at the latest due time (+20 % jitter at
        // most): the last is at three days, then it is given up.
        let t0 = Utc::now();
        let (mut now, mut attempts) = (t0, 0);
        loop {
            attempts += 1;
            match s.after_failure(t0, attempts, now, None) {
                Next::Retry(at) => {
                    let wait = (at - now).to_std().unwrap_or_default();
                    let d = s.delay(attempts);
                    assert!(
                        wait <= d.mul_f64(1.2)
                            && (at == t0 + chrono::Duration::days(3) || wait >= d.mul_f64(0.8))
                    );
                    now = at;
                }
                Next::GiveUp => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(now, t0 + chrono::Duration::days(3));
        assert!((12..=18).contains(&attempts), "{attempts} attempts");
    }

    #[test]
    fn retry_after_is_honoured() {
        let s = schedule();
        let now = Utc::now();
        let next = s.after_failure(now, 1, now, Some(Duration::from_secs(120)));
        assert_eq!(next, Next::Retry(now + chrono::Duration::seconds(120)));
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let date = (now + chrono::Duration::seconds(60)).to_rfc2822();
        let d = parse_retry_after(&date, now).unwrap_or_default().as_secs();
        assert!((59..=60).contains(&d), "{d}");
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
