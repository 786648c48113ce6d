//! `source rekey`, `source encrypt-existing`: sealing the stored secrets
//! under the current key.

use anyhow::Result;
use diesel_async::AsyncPgConnection;
use store::secrets::Keyring;
use store::sources;

/// Re-seals every secret and API setting under the current key.
pub async fn rekey(conn: &mut AsyncPgConnection, keys: &Keyring) -> Result<()> {
    let r = sources::rekey(conn, keys, false).await?;
    println!(
        "sealed under key {}: {} resealed, {} plaintext sealed, {} already current",
        keys.current_id(),
        r.resealed,
        r.sealed_plaintext,
        r.current
    );
    let a = store::apis::rekey(conn, keys).await?;
    println!(
        "API settings sealed under key {}: {} resealed, {} already current",
        keys.current_id(),
        a.resealed,
        a.current
    );
    Ok(())
}

/// Seals the secrets still stored in plaintext.
pub async fn encrypt_existing(conn: &mut AsyncPgConnection, keys: &Keyring) -> Result<()> {
    let r = sources::rekey(conn, keys, true).await?;
    println!(
        "sealed {} plaintext secret(s) under key {}",
        r.sealed_plaintext,
        keys.current_id()
    );
    Ok(())
}
