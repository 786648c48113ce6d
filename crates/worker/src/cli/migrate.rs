//! `worker migrate`: apply the migrations, waiting for the database to come
//! up; then seal the secrets still in plaintext and name the sources that
//! refuse every webhook.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use store::retry::Backoff;
use store::secrets::{KeyError, Keyring, KEY_VAR};
use telemetry::redact_url;

use super::connect;

/// Apply the database migrations (waiting for the database to come up).
#[derive(clap::Args)]
pub struct Args {
    /// How long to retry connecting before giving up.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    wait: Duration,
}

/// The first wait before connecting again; it doubles per failure.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait before connecting again.
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Applies the migrations, retrying the connection for `--wait`.
pub async fn run(url: &str, args: Args) -> Result<()> {
    // A malformed key fails before anything is applied; a missing one only
    // leaves plaintext secrets (from before sealing) as they are.
    let keys = match Keyring::from_env() {
        Ok(keys) => Some(keys),
        Err(KeyError::Missing(_)) => None,
        Err(e) => bail!("{e}"),
    };
    let deadline = Instant::now() + args.wait;
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    let applied = loop {
        match store::migrate(url).await {
            Ok(applied) => break applied,
            Err(store::Error::Connect(e)) if Instant::now() < deadline => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e).with_context(|| format!("migrating {}", redact_url(url))),
        }
    };
    // Logged (stderr, in LOG_FORMAT) rather than printed: in a container
    // every line follows the configured format.
    if applied.is_empty() {
        tracing::info!("schema is up to date");
    }
    for v in &applied {
        tracing::info!(version = %v, "applied migration");
    }
    after_migrate(url, keys.as_ref()).await
}

/// After the schema: seals the secrets still in plaintext when the key is
/// set (else says how many remain), and names the sources that now refuse
/// every webhook for want of a secret.
async fn after_migrate(url: &str, keys: Option<&Keyring>) -> Result<()> {
    let mut conn = connect(url).await?;
    match keys {
        Some(keys) => {
            let r = store::sources::rekey(&mut conn, keys, true).await?;
            if r.sealed_plaintext > 0 {
                tracing::info!(
                    sealed = r.sealed_plaintext,
                    key = keys.current_id(),
                    "sealed plaintext secret(s)"
                );
            }
        }
        None => {
            let n = store::sources::plaintext_count(&mut conn).await?;
            if n > 0 {
                tracing::warn!(plaintext = n, "{n} secret(s) are still stored in plaintext: set {KEY_VAR} and run `worker migrate` again (or `worker source encrypt-existing`)");
            }
        }
    }
    for name in store::sources::without_secret(&mut conn).await? {
        tracing::warn!(source = %name, "source has no active secret and is not --allow-unsigned: it refuses every webhook until you add a secret (worker source add-secret {name}) or re-run `worker source add {name} --provider ... --allow-unsigned`");
    }
    Ok(())
}
