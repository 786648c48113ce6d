//! `worker wait-schema`: wait until the database has every migration this
//! binary knows (the first step of every pod in Kubernetes).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use store::retry::Backoff;

/// Wait until the database has every migration this binary knows
/// (exit 0), or fail after --timeout. Kubernetes runs it as the first
/// step of every pod, so a new version's pods start only once the
/// migrate Job has brought the schema up to them.
#[derive(clap::Args)]
pub struct Args {
    /// Longest wait, e.g. 30s, 10m.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// The first wait before asking again; it doubles per try.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait before asking again.
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Waits until every embedded migration is applied. Connection failures
/// and refusals (the roles step of the same Job may not have granted the
/// read yet) are retried until the timeout.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let deadline = Instant::now() + args.timeout;
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    let mut said = String::new();
    loop {
        let outcome = match store::connect(url).await {
            Ok(mut conn) => store::missing_migrations(&mut conn)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e)),
        };
        let why = match outcome {
            Ok(missing) if missing.is_empty() => {
                tracing::info!("the schema has every migration of this version");
                return Ok(());
            }
            Ok(missing) => format!(
                "{} migration(s) not applied yet: {}",
                missing.len(),
                missing.join(", ")
            ),
            Err(e) => format!("cannot read the schema version: {e:#}"),
        };
        if Instant::now() >= deadline {
            bail!(
                "{why} (waited {})",
                humantime::format_duration(args.timeout)
            );
        }
        if why != said {
            tracing::info!(waiting_for = %why, "waiting for `worker migrate`");
            said = why;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
