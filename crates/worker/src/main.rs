//! `worker`: runs the batch loop and the operator commands. Each command
//! is a file of `cli/`, with its arguments; the service is the library's
//! (`worker::service`).

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};
use worker::service::RunArgs;

#[derive(Parser)]
#[command(
    name = "worker",
    version,
    about = "Switchboard worker and operator commands"
)]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The commands; each one's help is the doc comment of its `Args` (or
/// `Cmd`) in `cli/`.
#[derive(Subcommand)]
enum Cmd {
    /// Process events until SIGTERM/SIGINT.
    Run(RunArgs),
    Migrate(cli::migrate::Args),
    Process(cli::process::Args),
    Stats(cli::stats::Args),
    WaitSchema(cli::wait_schema::Args),
    Probe(cli::probe::Args),
    WaitIdle(cli::wait_idle::Args),
    Prune(cli::prune::Args),
    #[command(subcommand)]
    Source(cli::source::Cmd),
    Replay(cli::replay::Args),
    #[command(subcommand)]
    User(cli::user::Cmd),
    #[command(subcommand)]
    Token(cli::token::Cmd),
    Audit(cli::audit::Args),
    Board(cli::board::Args),
    #[command(subcommand)]
    Queue(cli::queue::Cmd),
    #[command(subcommand)]
    Missed(cli::missed::Cmd),
    History(cli::history::Args),
    #[command(subcommand)]
    Endpoint(cli::endpoint::Cmd),
    /// Deliver normalized events to the endpoints until SIGTERM/SIGINT.
    Deliver(worker::deliver::DeliverArgs),
}

#[tokio::main]
async fn main() {
    telemetry::run_main(run).await
}

/// Runs the command named on the command line.
async fn run(cli: Cli) -> Result<()> {
    // Every command but `probe` talks to the database.
    let url = &cli::database_url(cli.database_url, !matches!(cli.cmd, Cmd::Probe(_)))?;
    match cli.cmd {
        Cmd::Run(args) => cli::run::run(url, args).await,
        Cmd::Migrate(args) => cli::migrate::run(url, args).await,
        Cmd::Process(args) => cli::process::run(url, args).await,
        Cmd::Stats(args) => cli::stats::run(url, args).await,
        Cmd::WaitSchema(args) => cli::wait_schema::run(url, args).await,
        Cmd::Probe(args) => cli::probe::run(args).await,
        Cmd::WaitIdle(args) => cli::wait_idle::run(url, args).await,
        Cmd::Prune(args) => cli::prune::run(url, args).await,
        Cmd::Source(cmd) => cli::source::run(url, cmd).await,
        Cmd::Replay(args) => cli::replay::run(url, args).await,
        Cmd::User(cmd) => cli::user::run(url, cmd).await,
        Cmd::Token(cmd) => cli::token::run(url, cmd).await,
        Cmd::Audit(args) => cli::audit::run(url, args).await,
        Cmd::Board(args) => cli::board::run(url, args).await,
        Cmd::Queue(cmd) => cli::queue::run(url, cmd).await,
        Cmd::Missed(cmd) => cli::missed::run(url, cmd).await,
        Cmd::History(args) => cli::history::run(url, args).await,
        Cmd::Endpoint(cmd) => cli::endpoint::run(url, cmd).await,
        Cmd::Deliver(args) => cli::deliver::run(url, args).await,
    }
}
