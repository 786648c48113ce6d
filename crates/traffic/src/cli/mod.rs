//! The traffic commands, one file each, with the arguments each takes
//! beside the code that runs it.

pub mod board_watch;
pub mod demo;
pub mod http_limit;
pub mod receive;
pub mod run;

use anyhow::{bail, Result};
use domain::Provider;
use traffic::load::Target;

/// The sources named by `--yeastar`/`--dialpad` as NAME=SECRET (a Dialpad
/// source may be a bare NAME: unsigned).
fn targets(provider: Provider, specs: &[String]) -> Result<Vec<Target>> {
    specs
        .iter()
        .map(|s| {
            let (name, secret) = match s.split_once('=') {
                Some((n, sec)) => (n.to_string(), Some(sec.to_string())),
                None => (s.clone(), None),
            };
            if provider == Provider::Yeastar && secret.is_none() {
                bail!("--yeastar {s}: give NAME=SECRET");
            }
            Ok(Target {
                source: name,
                provider,
                secret,
            })
        })
        .collect()
}

/// The wall clock in milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
