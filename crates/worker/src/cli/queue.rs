//! `worker queue`: the queues a supervisor watches (today's figures, the
//! calls waiting) and their settings (the service level threshold).

use anyhow::{bail, Result};
use domain::projection::read;
use worker::render;

use super::connect;

/// Queues: today's figures and waiting calls, and their settings.
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Show each queue now: calls waiting and the longest wait, today's
    /// answered and abandoned calls, the service level, average wait and
    /// talk, agents free/busy/paused/logged out; then the waiting calls.
    List {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Machine-readable output (a JSON object).
        #[arg(long)]
        json: bool,
    },
    /// Set a queue's service level threshold: calls answered within
    /// SECONDS of entering the queue count as within it (default 20).
    SetSla {
        source: String,
        /// The queue's number (Yeastar) or call centre id (Dialpad).
        queue: String,
        #[arg(value_parser = clap::value_parser!(i32).range(1..=3600))]
        seconds: i32,
    },
    /// Remove a queue's settings (back to the defaults).
    ClearSla { source: String, queue: String },
    /// List the queues' settings.
    Settings {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
}

/// Runs the queue command `cmd`.
pub async fn run(url: &str, cmd: Cmd) -> Result<()> {
    let conn = &mut connect(url).await?;
    match cmd {
        Cmd::List { source, json } => {
            let queues = read::queues(conn, source.as_deref(), None).await?;
            let waiting = read::waiting_calls(conn, source.as_deref(), None).await?;
            if json {
                let v = serde_json::json!({"queues": queues, "waiting": waiting});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", render::queues(&queues, &waiting));
            }
        }
        Cmd::SetSla {
            source,
            queue,
            seconds,
        } => {
            store::queues::set_sla(conn, &source, &queue, seconds).await?;
            println!("{source} queue {queue}: service level within {seconds} s");
        }
        Cmd::ClearSla { source, queue } => {
            if !store::queues::clear(conn, &source, &queue).await? {
                bail!("{source} queue {queue} has no settings");
            }
            println!("{source} queue {queue}: back to the defaults");
        }
        Cmd::Settings { source } => {
            let list = store::queues::list(conn, source.as_deref()).await?;
            print!("{}", render::queue_settings(&list));
        }
    }
    Ok(())
}
