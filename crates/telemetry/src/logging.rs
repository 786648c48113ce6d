//! Logging: JSON lines or readable text on stderr.

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: JSON lines when `LOG_FORMAT=json`,
/// readable text otherwise; the level from `RUST_LOG` (default `info`).
/// Logs go to stderr so that command output on stdout stays clean. A second
/// call (tests) keeps the first subscriber.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
