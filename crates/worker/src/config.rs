//! How a worker claims and retries: flags and environment variables, with
//! their defaults written once, here.

use std::time::Duration;

/// How a worker claims and retries.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerConfig {
    /// Events claimed per transaction.
    #[arg(long, env = "WORKER_BATCH_SIZE", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub batch_size: i64,
    /// Wait between claims when nothing is pending (e.g. 200ms, 1s).
    #[arg(long, env = "WORKER_POLL_INTERVAL", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Attempts before an event is dead (kept, not retried automatically).
    #[arg(long, env = "WORKER_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..))]
    pub max_attempts: i32,
    /// First retry delay after a failure; doubles per attempt, with jitter.
    #[arg(long, env = "WORKER_BACKOFF_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub backoff_base: Duration,
    /// Longest retry delay.
    #[arg(long, env = "WORKER_BACKOFF_CAP", default_value = "5m", value_parser = humantime::parse_duration)]
    pub backoff_cap: Duration,
    /// The server's statement_timeout on every connection (lock_timeout:
    /// half; idle_in_transaction_session_timeout: twice), and the deadline
    /// of each batch's transaction: one that overruns it is abandoned, its
    /// connection discarded, and retried after a backoff.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_positive)]
    pub statement_timeout: Duration,
}

/// A duration above zero.
fn parse_positive(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

impl WorkerConfig {
    /// The pool's session deadlines.
    pub fn deadlines(&self) -> store::Deadlines {
        store::Deadlines {
            statement: self.statement_timeout,
        }
    }
}

impl Default for WorkerConfig {
    /// The defaults of the flags above.
    fn default() -> Self {
        telemetry::clap_defaults().expect("the built-in worker defaults parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_flags() {
        let c = WorkerConfig::default();
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.poll_interval, Duration::from_millis(200));
        assert_eq!(c.max_attempts, 10);
        assert_eq!(c.backoff_base, Duration::from_secs(1));
        assert_eq!(c.backoff_cap, Duration::from_secs(300));
        assert_eq!(c.statement_timeout, Duration::from_secs(10));
    }
}
