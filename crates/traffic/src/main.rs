//! `traffic`: sends signed call scenarios to an ingest URL, and measures
//! the live board under that load (`board-watch`), and stands in for ingest
//! without its database as a bench anchor (`http-limit`). Each command is a file
//! of `cli/`, with its arguments.

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "traffic",
    version,
    about = "Send signed call scenarios to Switchboard"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The commands; each one's help is the doc comment of its `Args` in `cli/`.
#[derive(Subcommand)]
enum Cmd {
    Run(cli::run::Args),
    BoardWatch(cli::board_watch::Args),
    Demo(cli::demo::Args),
    HttpLimit(cli::http_limit::Args),
    Receive(cli::receive::Args),
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run(args) => cli::run::run(args).await,
        Cmd::BoardWatch(args) => cli::board_watch::run(args).await,
        Cmd::Demo(args) => cli::demo::run(args).await,
        Cmd::HttpLimit(args) => cli::http_limit::run(args).await,
        Cmd::Receive(args) => cli::receive::run(args).await,
    }
}
