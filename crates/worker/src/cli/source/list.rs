//! `source list`: the sources, their secrets (never any part of one) and
//! their API settings.

use anyhow::Result;
use diesel_async::AsyncPgConnection;
use store::secrets::Keyring;
use worker::render;

/// Prints the sources.
pub async fn run(conn: &mut AsyncPgConnection, keys: &Keyring) -> Result<()> {
    print!(
        "{}",
        render::sources(
            &store::sources::list(conn, keys).await?,
            &store::apis::list(conn, keys).await?
        )
    );
    Ok(())
}
