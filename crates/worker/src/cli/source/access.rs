//! `source set-networks`, `source enable`, `source disable`: who may post
//! to a source.

use anyhow::Result;
use diesel_async::AsyncPgConnection;
use store::sources::{self, IpNet};

/// Restricts the senders to `networks`, or accepts any sender when `clear`.
pub async fn set_networks(
    conn: &mut AsyncPgConnection,
    name: &str,
    networks: Vec<IpNet>,
    clear: bool,
) -> Result<()> {
    if clear {
        sources::set_networks(conn, name, None).await?;
        println!("{name} accepts webhooks from any network");
    } else {
        sources::set_networks(conn, name, Some(&networks)).await?;
        let list: Vec<String> = networks.iter().map(|n| n.trunc().to_string()).collect();
        println!("{name} accepts webhooks from {} only", list.join(", "));
    }
    Ok(())
}

/// Accepts (`enabled`) or refuses the source's webhooks.
pub async fn set_enabled(conn: &mut AsyncPgConnection, name: &str, enabled: bool) -> Result<()> {
    sources::set_enabled(conn, name, enabled).await?;
    if enabled {
        println!("enabled {name}");
    } else {
        println!("disabled {name}");
    }
    Ok(())
}
