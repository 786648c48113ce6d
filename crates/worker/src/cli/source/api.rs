//! `source set-api`, `source clear-api`: how the board reaches a source's
//! phone system to hang up calls.

use anyhow::{bail, Result};
use diesel_async::AsyncPgConnection;
use domain::Provider;
use store::apis::{self, Credentials};
use store::secrets::Keyring;

use crate::cli::input::read_lines;

/// Reads the credentials of the source's provider from stdin (never
/// printed), seals and stores them with the base URL.
pub async fn set(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    base_url: Option<String>,
) -> Result<()> {
    // Refuse an unknown source, or one without an API, before reading.
    let provider = apis::api_provider(conn, name).await?;
    let base_url = match (provider, base_url) {
        (_, Some(u)) => u,
        (Provider::Dialpad, None) => apis::DIALPAD_BASE_URL.to_string(),
        (_, None) => bail!(
            "a {provider} source needs --base-url: the PBX's web address, e.g. https://pbx.example.com:8088"
        ),
    };
    // Check the URL before asking for the credentials.
    let base_url = apis::normalize_base_url(&base_url)?;
    let (prompt, want) = match provider {
        Provider::Yeastar => (
            "Paste the OpenAPI client id, then the client secret, one per line, then press Ctrl-D:",
            2,
        ),
        _ => ("Paste the Dialpad API key, then press Ctrl-D:", 1),
    };
    let mut lines = read_lines(None, prompt)?;
    if lines.len() != want {
        bail!(
            "{}: {} line(s) given on stdin",
            match provider {
                Provider::Yeastar => r#"give the client id and the client secret, one per line, on stdin (e.g. `printf '%s\n%s\n' "$ID" "$SECRET" | worker source set-api NAME --base-url URL`)"#,
                _ => "give the API key, one line, on stdin (e.g. `worker source set-api NAME < dialpad-api-key.txt`)",
            },
            lines.len()
        );
    }
    let credentials = match provider {
        Provider::Yeastar => {
            let client_secret = lines.pop().unwrap_or_default();
            let client_id = lines.pop().unwrap_or_default();
            Credentials::Yeastar {
                client_id,
                client_secret,
            }
        }
        _ => Credentials::Dialpad {
            api_key: lines.pop().unwrap_or_default(),
        },
    };
    let r = apis::set(conn, keys, name, &base_url, &credentials).await?;
    if apis::is_plain_http_remote(&r.base_url) {
        tracing::warn!(source = %name, base_url = %r.base_url,
            "the API is reached over plain HTTP: the credentials and tokens cross the network unencrypted; use https://");
    }
    println!(
        "{} the API settings of {name} ({provider}): {}{}, credentials fp {} (sealed under key {})",
        if r.created { "set" } else { "replaced" },
        r.base_url,
        credentials
            .client_hint()
            .map(|h| format!(", client {h}"))
            .unwrap_or_default(),
        r.fingerprint,
        keys.current_id()
    );
    Ok(())
}

/// Removes the source's API settings.
pub async fn clear(conn: &mut AsyncPgConnection, name: &str) -> Result<()> {
    if apis::clear(conn, name).await? {
        println!("cleared the API settings of {name}: the board can no longer hang up its calls");
    } else {
        println!("{name} had no API settings");
    }
    Ok(())
}
