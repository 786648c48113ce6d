//! `worker token`: the read-only API tokens of wallboards and CRMs.

use anyhow::Result;
use store::access;
use worker::render;

use super::connect;

/// Manage read-only API tokens for wallboards and CRMs (the board's
/// `GET /api/extensions` and `GET /api/calls`; stored as SHA-256).
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a token and print it, once: it is not stored, only its hash.
    Add {
        /// A name for whoever uses it: 1-63 of a-z, 0-9, '.', '_', '-'.
        name: String,
        /// Also open the event stream (GET /api/stream, docs/events.md).
        #[arg(long)]
        stream: bool,
    },
    /// List tokens (name, created, last used, revoked; never the value).
    List,
    /// Revoke a token: it no longer opens the API.
    Revoke { name: String },
}

/// Runs the token command `cmd`.
pub async fn run(url: &str, cmd: Cmd) -> Result<()> {
    let mut conn = connect(url).await?;
    match cmd {
        Cmd::Add { name, stream } => {
            let secret = access::add_token(&mut conn, &name).await?;
            if stream {
                access::set_stream_scope(&mut conn, &name, true).await?;
            }
            eprintln!("created API token {name}; it is shown once, here (store it now):");
            println!("{}", secret.expose());
        }
        Cmd::List => print!("{}", render::tokens(&access::list_tokens(&mut conn).await?)),
        Cmd::Revoke { name } => {
            if access::revoke_token(&mut conn, &name).await? {
                println!("revoked API token {name}");
            } else {
                println!("API token {name} was already revoked");
            }
        }
    }
    Ok(())
}
