//! Logging: JSON lines or readable text on stderr.

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: JSON lines when `LOG_FORMAT=json`,
/// readable text otherwise; the level from `RUST_LOG` (default `info`).
/// Logs go to stderr so that command output on stdout stays clean. A second
/// call (tests) keeps the first subscriber.
pub fn init_logging() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // actix-http logs a request that does not parse (a NUL byte in a
    // header, a garbled request line: the client's mistake, answered 400)
    // at ERROR, "stream error: ...": anyone could fill the error log with
    // them. Its HTTP/1 dispatcher logs nothing else worth keeping, so it is
    // silenced unless RUST_LOG names actix_http.
    let named = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("actix_http"));
    if !named {
        if let Ok(quiet) = "actix_http::h1::dispatcher=off".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    let json = json_logs();
    // Colours only for a person at a terminal, not in log files.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Whether logs are JSON lines (`LOG_FORMAT=json`).
pub fn json_logs() -> bool {
    std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
}

/// Ends a binary whose `main` failed with `error` (its `{:#}` chain): one
/// `error` log line, so that under `LOG_FORMAT=json` every line the
/// process prints is JSON (the default `Error: ...` report is plain text),
/// then exit status 1.
pub fn exit_with_error(error: &dyn std::fmt::Display) -> ! {
    let message = format!("{error:#}");
    if json_logs() {
        tracing::error!(error = %message, "failed");
    } else {
        eprintln!("Error: {message}");
    }
    std::process::exit(1)
}
