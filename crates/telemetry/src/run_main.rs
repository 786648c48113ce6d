//! The `main` of every binary, written once.

use std::fmt::Display;
use std::future::Future;

use crate::{exit_with_error, init_logging};

/// Reads `.env` (when there is one), sets up logging, parses the command
/// line `C` and runs `run` with it. A failure is logged in the configured
/// format (JSON lines in containers), not as Rust's plain `Error: ...`
/// report, and the process exits with status 1.
pub async fn run_main<C, F, Fut, E>(run: F)
where
    C: clap::Parser,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let _ = dotenvy::dotenv();
    init_logging();
    if let Err(e) = run(C::parse()).await {
        exit_with_error(&e);
    }
}
