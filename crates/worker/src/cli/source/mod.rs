//! `worker source`: the webhook sources, their secrets, who may post to
//! them, and how the board reaches their phone systems.

mod access;
mod api;
mod list;
mod seal;
mod secrets;
mod timezone;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use domain::Provider;
use store::sources::IpNet;

use super::{connect, keyring};

/// Manage webhook sources.
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a source. Its signing secret(s) are read from stdin, one per
    /// line (or from --secret-file), never from the command line. Re-running
    /// it for an existing source adds the secrets not yet there.
    Add {
        /// Slug used in the URL: /webhooks/NAME.
        name: String,
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        /// Read the secret(s) from this file, one per line, instead of stdin.
        #[arg(long, value_name = "PATH")]
        secret_file: Option<PathBuf>,
        /// Create the source WITHOUT a secret: anyone who knows the URL can
        /// post webhooks to it. Logged as a warning, shown by `source list`.
        #[arg(long, conflicts_with = "secret_file")]
        allow_unsigned: bool,
    },
    /// Add a secret to a source, read from stdin (one line) or --secret-file
    /// (rotation: add the new, switch the sender, then revoke the old or let
    /// it expire).
    AddSecret {
        name: String,
        /// Read the secret from this file instead of stdin.
        #[arg(long, value_name = "PATH")]
        secret_file: Option<PathBuf>,
        /// Every other active secret of the source expires this long from
        /// now (e.g. 24h, 30m): the sender has that long to switch.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expire_others_after: Option<Duration>,
    },
    /// Revoke a secret by its id (`source list` shows the ids). The last
    /// active secret of a source cannot be revoked: add the new one first.
    RevokeSecret { name: String, id: i64 },
    /// List sources and their secrets (id, length, a keyed fingerprint,
    /// creation and expiry; never any part of a secret).
    List,
    /// Restrict the senders of a source to these networks (CIDRs or
    /// addresses), or accept any sender again with --clear.
    SetNetworks {
        name: String,
        #[arg(value_name = "CIDR", required_unless_present = "clear", value_parser = parse_network)]
        networks: Vec<IpNet>,
        #[arg(long, conflicts_with = "networks")]
        clear: bool,
    },
    /// Re-seal every secret under the current SWITCHBOARD_SECRETS_KEY
    /// (after a key rotation, with the old key as
    /// SWITCHBOARD_SECRETS_KEY_PREVIOUS), plaintext ones included.
    Rekey,
    /// Seal the secrets still stored in plaintext (from before sealing);
    /// `worker migrate` does it too when the key is set.
    EncryptExisting,
    /// Set how the board reaches the source's phone system to hang up calls
    /// (replacing earlier settings). The credentials are read from stdin,
    /// never from the command line, and stored sealed: Yeastar: two lines,
    /// the OpenAPI client id then the client secret (PBX web portal:
    /// Integrations > API); Dialpad: one line, the API key.
    SetApi {
        name: String,
        /// The API's address: Yeastar: the PBX's web address, e.g.
        /// https://pbx.example.com:8088 (required); Dialpad: default
        /// https://dialpad.com.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
    /// Remove a source's API settings: the board can no longer hang up its calls.
    ClearApi { name: String },
    /// Set the time zone of the source's phone system (an IANA name such
    /// as Europe/Berlin; default UTC): Yeastar CDR times, which carry none,
    /// are read in it, and the board's "today" begins at its midnight.
    SetTimezone {
        name: String,
        /// IANA time zone name, e.g. Europe/Berlin, America/New_York, UTC.
        zone: String,
    },
    /// Accept webhooks for a source again.
    Enable { name: String },
    /// Refuse webhooks for a source (404) without deleting anything.
    Disable { name: String },
}

fn parse_network(s: &str) -> Result<IpNet, String> {
    store::sources::parse_network(s).map_err(|e| e.to_string())
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

/// Runs the source command `cmd`.
pub async fn run(url: &str, cmd: Cmd) -> Result<()> {
    // Fail closed: no source command runs without the key, so that no
    // secret is ever written unsealed or checked against nothing.
    let keys = keyring()?;
    let conn = &mut connect(url).await?;
    match cmd {
        Cmd::Add {
            name,
            provider,
            secret_file,
            allow_unsigned,
        } => secrets::add(conn, &keys, &name, provider, secret_file, allow_unsigned).await,
        Cmd::AddSecret {
            name,
            secret_file,
            expire_others_after,
        } => secrets::add_secret(conn, &keys, &name, secret_file, expire_others_after).await,
        Cmd::RevokeSecret { name, id } => secrets::revoke(conn, &name, id).await,
        Cmd::List => list::run(conn, &keys).await,
        Cmd::SetApi { name, base_url } => api::set(conn, &keys, &name, base_url).await,
        Cmd::ClearApi { name } => api::clear(conn, &name).await,
        Cmd::SetNetworks {
            name,
            networks,
            clear,
        } => access::set_networks(conn, &name, networks, clear).await,
        Cmd::Rekey => seal::rekey(conn, &keys).await,
        Cmd::EncryptExisting => seal::encrypt_existing(conn, &keys).await,
        Cmd::SetTimezone { name, zone } => timezone::set(conn, &name, &zone).await,
        Cmd::Enable { name } => access::set_enabled(conn, &name, true).await,
        Cmd::Disable { name } => access::set_enabled(conn, &name, false).await,
    }
}
