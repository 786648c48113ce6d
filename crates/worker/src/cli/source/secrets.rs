//! `source add`, `source add-secret`, `source revoke-secret`: a source's
//! signing secrets.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use diesel_async::AsyncPgConnection;
use domain::Provider;
use store::secrets::Keyring;
use store::sources;

use crate::cli::input::read_secrets;

/// Creates the source (or adds the secrets not yet there), its secrets read
/// from `secret_file` or stdin unless `allow_unsigned`.
pub async fn add(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    provider: Provider,
    secret_file: Option<PathBuf>,
    allow_unsigned: bool,
) -> Result<()> {
    let secrets = if allow_unsigned {
        Vec::new()
    } else {
        read_secrets(secret_file.as_deref())?
    };
    let r = sources::add(conn, keys, name, provider, &secrets, allow_unsigned).await?;
    if r.allow_unsigned {
        tracing::warn!(source = %name, provider = %provider,
            "source accepts UNSIGNED webhooks (--allow-unsigned): anyone who knows its URL can post events");
    }
    if r.now_signed {
        tracing::info!(source = %name, "source no longer accepts unsigned webhooks: it has a secret");
    }
    println!(
        "{} source {name} ({provider}): {} secret(s) added{}{}",
        if r.created { "created" } else { "updated" },
        r.added.len(),
        if r.already_active.is_empty() {
            String::new()
        } else {
            format!(", {} already active", r.already_active.len())
        },
        if r.allow_unsigned {
            ", accepting UNSIGNED webhooks"
        } else {
            ""
        },
    );
    Ok(())
}

/// Adds one secret (from `secret_file` or stdin); the others expire after
/// `expire_others_after` when given.
pub async fn add_secret(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    secret_file: Option<PathBuf>,
    expire_others_after: Option<Duration>,
) -> Result<()> {
    let mut secrets = read_secrets(secret_file.as_deref())?;
    let secret = match (secrets.pop(), secrets.is_empty()) {
        (Some(s), true) => s,
        (None, _) => bail!(
            "no secret given: pipe it on stdin (e.g. `worker source add-secret {name} < new-secret.txt`) or use --secret-file"
        ),
        (Some(_), false) => bail!(
            "add-secret takes one secret; {} lines were given",
            secrets.len() + 1
        ),
    };
    let r = sources::add_secret(conn, keys, name, &secret, expire_others_after).await?;
    println!("added secret #{} to {name}", r.id);
    for (id, at) in &r.expiring {
        println!(
            "secret #{id} of {name} expires at {}",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if r.now_signed {
        tracing::info!(source = %name, "source no longer accepts unsigned webhooks: it has a secret");
    }
    Ok(())
}

/// Revokes secret `id` of the source.
pub async fn revoke(conn: &mut AsyncPgConnection, name: &str, id: i64) -> Result<()> {
    sources::revoke_secret(conn, name, id).await?;
    println!("revoked secret #{id} of {name}");
    Ok(())
}
