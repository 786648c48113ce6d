//! The board's settings: flags and environment variables, with their
//! defaults written once, here.

use std::time::Duration;

use clap::builder::TypedValueParser as _;

/// Board settings.
#[derive(Debug, Clone, clap::Args)]
pub struct BoardConfig {
    /// How long a login lasts.
    #[arg(long, env = "BOARD_SESSION_TTL", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Leave it on
    /// in production; `false` only for plain-HTTP development on loopback.
    #[arg(long, env = "BOARD_COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed, as
    /// comma-separated CIDRs. Empty: the peer's own address counts.
    #[arg(long, env = "BOARD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = telemetry::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The origin people open the board at (e.g. https://board.example.com):
    /// a state-changing request's `Origin` must be this, or the origin of the
    /// request's own `Host`.
    #[arg(long, env = "BOARD_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,
    /// Recent calls shown on the board.
    #[arg(long, env = "BOARD_RECENT_CALLS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000).map(|v| v as usize))]
    pub recent_calls: usize,
    /// Updates kept for browsers that reconnect (`Last-Event-ID`); one that
    /// missed more gets a fresh snapshot.
    #[arg(long, env = "BOARD_REPLAY_EVENTS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub replay_events: usize,
    /// Updates a browser may fall behind before it is dropped (it then
    /// reconnects and resumes). Bounds the server's memory per browser.
    #[arg(long, env = "BOARD_CLIENT_BACKLOG", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub client_backlog: usize,
    /// At most one update per this window goes to the event streams: a
    /// change after a quiet spell goes out at once, the changes that come
    /// sooner go out together at the end of the window (0: each at once).
    #[arg(long, env = "BOARD_DELTA_WINDOW", default_value = "20ms", value_parser = humantime::parse_duration)]
    pub delta_window: Duration,
    /// How often an idle event stream gets a keep-alive comment.
    #[arg(long, env = "BOARD_HEARTBEAT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// How long an event stream's client may accept nothing while the board
    /// has something waiting for it (the socket full) before the board
    /// closes the stream; the kernel closes any stream whose data waits
    /// unacknowledged twice as long (a client that vanished).
    #[arg(long, env = "BOARD_STREAM_WRITE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub stream_write_timeout: Duration,
    /// Event streams one login session may hold open at once; more get 429.
    #[arg(long, env = "BOARD_STREAMS_PER_SESSION", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub streams_per_session: usize,
    /// Event streams one user may hold open at once, over all their
    /// sessions; more get 429.
    #[arg(long, env = "BOARD_STREAMS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub streams_per_user: usize,
    /// `/api/stream` streams one API token may hold open at once; more
    /// get 429.
    #[arg(long, env = "BOARD_API_STREAMS_PER_TOKEN", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub api_streams_per_token: usize,
    /// How often an open event stream re-checks its session (logout,
    /// disabled user, expiry end it).
    #[arg(long, env = "BOARD_SESSION_CHECK", default_value = "30s", value_parser = humantime::parse_duration)]
    pub session_check: Duration,
    /// Failed logins per user name within the window before more are refused.
    #[arg(long, env = "BOARD_LOGIN_FAILURES_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..).map(i64::from))]
    pub login_failures_per_user: i64,
    /// Failed logins per address within the window before more are refused.
    #[arg(long, env = "BOARD_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..).map(i64::from))]
    pub login_failures_per_address: i64,
    /// The window the failed logins are counted over.
    #[arg(long, env = "BOARD_LOGIN_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub login_window: Duration,
    /// Password checks (Argon2id, ~19 MiB and tens of ms each) run at once,
    /// at most; more logins wait up to `db_timeout`, then get 503. Each runs
    /// in one of this many 19 MiB buffers, made when first needed and kept.
    #[arg(long, env = "BOARD_PASSWORD_CHECKS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub password_checks: usize,
    /// Longest database wait per request before answering 503.
    #[arg(long, env = "BOARD_DB_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_timeout: Duration,
    /// Open connections per HTTP worker thread, at most (event streams
    /// count: each browser holds one).
    #[arg(long, env = "BOARD_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_connections: usize,
    /// HTTP worker threads (default: one per core).
    #[arg(long = "workers", env = "BOARD_WORKERS")]
    pub http_workers: Option<usize>,
    /// Longest an action on a call (a hang-up through the phone system's
    /// API: login, refresh and the request itself) may take before the
    /// board answers 504.
    #[arg(long, env = "BOARD_ACTION_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub action_timeout: Duration,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish
    /// (event streams are closed at once: browsers reconnect elsewhere).
    #[arg(long, env = "BOARD_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
}

impl Default for BoardConfig {
    fn default() -> Self {
        telemetry::clap_defaults().expect("the built-in board defaults parse")
    }
}

impl BoardConfig {
    /// The login limits, as storage takes them.
    pub fn login_limit(&self) -> store::access::LoginLimit {
        store::access::LoginLimit {
            per_user: self.login_failures_per_user,
            per_address: self.login_failures_per_address,
            window: self.login_window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = BoardConfig::default();
        assert_eq!(c.session_ttl, Duration::from_secs(12 * 3600));
        assert!(c.cookie_secure);
        assert_eq!(c.recent_calls, 50);
        assert_eq!(c.login_failures_per_user, 5);
        assert_eq!(c.login_window, Duration::from_secs(900));
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.action_timeout, Duration::from_secs(5));
        assert_eq!(c.stream_write_timeout, Duration::from_secs(30));
        assert_eq!((c.streams_per_session, c.streams_per_user), (6, 16));
        assert_eq!(c.api_streams_per_token, 4);
    }
}
