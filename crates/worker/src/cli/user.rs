//! `worker user`: the users of the browser board.

use anyhow::Result;
use store::users::{self, Role, UserError};
use worker::render;

use super::connect;
use super::input::read_password;

/// Manage the users of the browser board (passwords hashed with Argon2id).
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a board user, or set the role and password of an existing one
    /// (enabling it again). The password is read from stdin (one line, at
    /// least 12 characters), never from the command line.
    Add {
        /// Login name: 1-63 of a-z, 0-9, '.', '_', '-'.
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List board users (name, role, created, disabled; never the hash).
    List,
    /// Disable a board user: they can no longer log in.
    Disable { name: String },
    /// Change a board user's role (viewer, operator or supervisor); it
    /// applies to their next request, open boards included.
    SetRole {
        name: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Set the user's own extension: the phone a supervisor listens,
    /// whispers or barges in from. `--clear` removes it.
    SetExtension {
        name: String,
        #[arg(required_unless_present = "clear")]
        extension: Option<String>,
        #[arg(long, conflicts_with = "extension")]
        clear: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: UserError| e.to_string())
}

/// Runs the user command `cmd`.
pub async fn run(url: &str, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Add { name, role } => {
            // Refuse a bad name before asking for a password.
            users::validate_name(&name)?;
            let password = read_password()?;
            users::validate_password(&password)?;
            let mut conn = connect(url).await?;
            let r = users::add(&mut conn, &name, role, &password).await?;
            println!(
                "{} board user {name} ({role})",
                if r.created { "created" } else { "updated" }
            );
        }
        Cmd::List => {
            let mut conn = connect(url).await?;
            print!("{}", render::users(&users::list(&mut conn).await?));
        }
        Cmd::Disable { name } => {
            let mut conn = connect(url).await?;
            if users::disable(&mut conn, &name).await? {
                println!("disabled board user {name}");
            } else {
                println!("board user {name} was already disabled");
            }
        }
        Cmd::SetRole { name, role } => {
            let mut conn = connect(url).await?;
            let old = users::set_role(&mut conn, &name, role).await?;
            println!("board user {name}: role {old} -> {role}");
        }
        Cmd::SetExtension {
            name, extension, ..
        } => {
            if let Some(e) = &extension {
                users::validate_extension(e)?;
            }
            let mut conn = connect(url).await?;
            users::set_extension(&mut conn, &name, extension.as_deref()).await?;
            match extension {
                Some(e) => println!("board user {name}: extension {e}"),
                None => println!("board user {name}: no extension"),
            }
        }
    }
    Ok(())
}
