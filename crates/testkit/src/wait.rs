//! Bounded waits on a condition.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// Waits until `check` returns `Ok(true)`, polling every 20 ms, for at most
/// `limit`. Returns an error naming `what` on timeout.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + limit;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            match last_err {
                Some(e) => bail!("timed out after {limit:?} waiting for {what}: last error {e:#}"),
                None => bail!("timed out after {limit:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
