//! The receiver's settings: flags and environment variables, with their
//! defaults written once, here.

use std::time::Duration;

use clap::builder::TypedValueParser as _;

/// Receiver settings.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestConfig {
    /// Largest accepted body in bytes (larger: 413).
    #[arg(long, env = "INGEST_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Standard Webhooks timestamp tolerance (e.g. 5m).
    #[arg(long, env = "INGEST_TIMESTAMP_TOLERANCE", default_value = "5m", value_parser = humantime::parse_duration)]
    pub timestamp_tolerance: Duration,
    /// Leeway for a Dialpad JWT's `exp` and `nbf` claims (clock skew).
    #[arg(long, env = "INGEST_JWT_LEEWAY", default_value = "60s", value_parser = humantime::parse_duration)]
    pub jwt_leeway: Duration,
    /// Yeastar has no event id: an identical body within this window is a
    /// retry (stored once); after it, a new event.
    #[arg(long, env = "INGEST_YEASTAR_DEDUP_WINDOW", default_value = "60s", value_parser = humantime::parse_duration)]
    pub yeastar_dedup_window: Duration,
    /// Longest time to receive a request's body once its source is known
    /// (slower: 408 and the connection is closed).
    #[arg(long, env = "INGEST_BODY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,
    /// Longest time to receive a request's head (method, path, headers)
    /// after the connection opens or the previous request ends (slower: 408).
    #[arg(long, env = "INGEST_HEAD_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub head_timeout: Duration,
    /// How long an idle keep-alive connection stays open (0s: no keep-alive).
    #[arg(long, env = "INGEST_KEEP_ALIVE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub keep_alive: Duration,
    /// Open connections per HTTP worker thread, at most (more wait in the
    /// kernel's accept queue).
    #[arg(long, env = "INGEST_MAX_CONNECTIONS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_connections: usize,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed, as
    /// comma-separated CIDRs (e.g. 10.0.0.0/8,fd00::/8). Empty: the peer's
    /// own address is the sender's, and the header is ignored.
    #[arg(long, env = "INGEST_TRUSTED_PROXIES", value_delimiter = ',', value_parser = telemetry::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Longest database wait per request before answering 503; also the
    /// deadline of each insert transaction (a connection that overruns it
    /// is discarded).
    #[arg(long, env = "INGEST_DB_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_timeout: Duration,
    /// The server's statement_timeout on every connection (lock_timeout:
    /// half; idle_in_transaction_session_timeout: twice); the client gives
    /// a connection up when a request stays unanswered 5 s longer.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_positive)]
    pub statement_timeout: Duration,
    /// HTTP worker threads (default: one per core).
    #[arg(long = "workers", env = "INGEST_WORKERS")]
    pub http_workers: Option<usize>,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    #[arg(long, env = "INGEST_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Group commit: most rows per insert transaction.
    #[arg(long, env = "INGEST_GROUP_COMMIT_MAX", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub group_commit_max: usize,
    /// Group commit: insert transactions in flight (fewer, larger commits;
    /// raise it on machines with more cores). At most the pool size.
    #[arg(long, env = "INGEST_GROUP_COMMIT_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub group_commit_in_flight: usize,
    /// Group commit: how long a batch waits for more rows (0s: never).
    #[arg(long, env = "INGEST_GROUP_COMMIT_LINGER", default_value = "0s", value_parser = humantime::parse_duration)]
    pub group_commit_linger: Duration,
    /// How long source settings (secrets, enabled) are cached; 0s disables.
    #[arg(long, env = "INGEST_SOURCE_CACHE_TTL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub source_cache_ttl: Duration,
}

/// A duration above zero.
fn parse_positive(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

impl Default for IngestConfig {
    /// The defaults of the flags above.
    fn default() -> Self {
        telemetry::clap_defaults().expect("the built-in ingest defaults parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_flags() {
        let c = IngestConfig::default();
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.timestamp_tolerance, Duration::from_secs(300));
        assert_eq!(c.group_commit_in_flight, 2);
        assert_eq!(c.source_cache_ttl, Duration::from_secs(1));
        assert_eq!(c.http_workers, None);
    }
}
