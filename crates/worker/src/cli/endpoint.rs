//! `worker endpoint`: where normalized events are delivered (docs/events.md).

use std::time::Duration;

use anyhow::{Context, Result};
use store::events_out::{self, NewEndpoint};
use worker::deliver::ssrf;

use super::{connect, keyring};

/// How long the previous secret keeps signing after `rotate-secret`.
const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Manage the endpoints normalized events are delivered to, signed per
/// Standard Webhooks (`worker deliver` sends them).
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Add an endpoint and print its generated whsec_ secret, once.
    Add {
        /// 1-63 of a-z, 0-9, '.', '_', '-'.
        name: String,
        /// Where to POST (http or https). Refused if it resolves to a
        /// loopback, link-local or private address, unless --allow-private.
        #[arg(long)]
        url: String,
        /// Event types, comma-separated: call.ended, call.*, extension.*,
        /// or * (default: every type).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Only this source's events (default: every source).
        #[arg(long)]
        source: Option<String>,
        /// Allow a URL on a loopback, link-local or private address (an
        /// internal receiver).
        #[arg(long)]
        allow_private: bool,
    },
    /// List endpoints with their deliveries (never the secret).
    List,
    /// Stop delivering to an endpoint (its deliveries wait).
    Disable { name: String },
    /// Deliver to an endpoint again (also after 410 or failing for days).
    Enable { name: String },
    /// Replace the secret and print the new one, once; the old one keeps
    /// signing alongside it for 24 hours.
    RotateSecret { name: String },
    /// Remove an endpoint and its deliveries.
    Remove { name: String },
    /// Send one event (its id, evt_...) to the endpoint again, now.
    Resend { name: String, event_id: String },
    /// Send again every delivery to the endpoint given up since a time
    /// (RFC 3339, e.g. 2026-12-07T08:00:00Z).
    Recover {
        name: String,
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
    },
}

/// Runs the endpoint command `cmd`.
pub async fn run(url: &str, cmd: Cmd) -> Result<()> {
    let mut conn = connect(url).await?;
    match cmd {
        Cmd::Add {
            name,
            url: target,
            types,
            source,
            allow_private,
        } => {
            ssrf::check_url(&target, allow_private)
                .await
                .with_context(|| format!("endpoint {name} refused"))?;
            let keys = keyring()?;
            let e = NewEndpoint {
                name: name.clone(),
                url: target,
                types: types.into_iter().filter(|t| !t.trim().is_empty()).collect(),
                source,
                allow_private,
            };
            let secret = events_out::add(&mut conn, &keys, &e).await?;
            eprintln!(
                "added endpoint {name}; its signing secret is shown once, here (store it now):"
            );
            println!("{secret}");
        }
        Cmd::List => {
            for e in events_out::list(&mut conn).await? {
                let types = if e.types.is_empty() {
                    "*".to_string()
                } else {
                    e.types.join(",")
                };
                let state = if e.enabled {
                    "enabled".to_string()
                } else {
                    format!("disabled ({})", e.disabled_reason.unwrap_or_default())
                };
                println!(
                    "{}\t{}\ttypes={}\tsource={}\t{}\tpending={}\tdelivered={}\tfailed={}{}{}",
                    e.name,
                    e.url,
                    types,
                    e.source.as_deref().unwrap_or("*"),
                    state,
                    e.pending,
                    e.delivered,
                    e.failed,
                    if e.allow_private {
                        "\tallow-private"
                    } else {
                        ""
                    },
                    e.failing_since
                        .map(|t| format!("\tfailing since {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                        .unwrap_or_default(),
                );
            }
        }
        Cmd::Disable { name } => {
            events_out::set_enabled(&mut conn, &name, false).await?;
            println!("disabled endpoint {name}");
        }
        Cmd::Enable { name } => {
            events_out::set_enabled(&mut conn, &name, true).await?;
            println!("enabled endpoint {name}");
        }
        Cmd::RotateSecret { name } => {
            let keys = keyring()?;
            let secret =
                events_out::rotate_secret(&mut conn, &keys, &name, ROTATION_OVERLAP).await?;
            eprintln!("rotated the secret of endpoint {name}; the old one signs alongside for 24 h. The new one, shown once:");
            println!("{secret}");
        }
        Cmd::Resend { name, event_id } => {
            match events_out::resend(&mut conn, &name, &event_id).await? {
                events_out::Resent::Queued => {}
                events_out::Resent::InFlight => anyhow::bail!(
                    "{event_id} is being sent to {name} right now; resend it once that attempt is over"
                ),
                events_out::Resent::Unknown => anyhow::bail!(
                    "no endpoint {name} or no event {event_id} (kept for DELIVER_OUTBOX_RETENTION)"
                ),
            }
            tracing::info!(endpoint = %name, %event_id, "resend requested");
            println!("{event_id} will be sent to {name} again");
        }
        Cmd::Recover { name, since } => {
            let n = events_out::recover(&mut conn, &name, since).await?;
            tracing::info!(endpoint = %name, %since, deliveries = n, "recovery requested");
            println!("{n} given-up deliveries to {name} will be sent again");
        }
        Cmd::Remove { name } => {
            events_out::remove(&mut conn, &name).await?;
            println!("removed endpoint {name}");
        }
    }
    Ok(())
}
