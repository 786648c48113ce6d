//! Acting on calls through the phone systems' own APIs: each source's API
//! settings (`worker source set-api|clear-api`, read by the board) and the
//! audit of every action (`call_actions`, listed by `worker audit`).
//!
//! The credentials (Yeastar: client id and client secret; Dialpad: the API
//! key) are sealed like the signing secrets (see [`crate::secrets`]), as
//! one JSON document, with `api:<source>` as associated data: a row copied
//! to another source, or a signing secret copied here, does not open.
//! Nothing here logs, returns in an error or formats a credential; their
//! `Debug` shows none.
//!
//! Here: the credentials, the base URL checks and the errors; the settings
//! themselves are in `settings.rs`, the audit in `audit.rs`.

use std::fmt;

use domain::Provider;
use serde::{Deserialize, Serialize};

use crate::secrets::CryptoError;

mod audit;
mod providers;
mod settings;

pub use audit::{audit, record, truncate, ActionRow, NewAction, Outcome, MAX_DETAIL_LEN};
pub use providers::{providers, SourceProvider};
pub use settings::{
    api_provider, clear, get, list, rekey, set, ApiLine, ApiSettings, Rekeyed, SetApi,
};

/// Dialpad's API host, unless a source's settings say otherwise.
pub const DIALPAD_BASE_URL: &str = "https://dialpad.com";
/// Longest credential field accepted, in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 1024;
/// Longest `provider_answer` stored in the audit, in bytes.
pub const MAX_ANSWER_LEN: usize = 2048;
/// Longest base URL accepted, in bytes.
pub const MAX_BASE_URL_LEN: usize = 512;

/// A source's API credentials. `Debug` shows no secret (nor a whole
/// Yeastar client id).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Credentials {
    /// A Yeastar P-Series OpenAPI client (PBX web portal: Integrations > API).
    Yeastar {
        client_id: String,
        client_secret: String,
    },
    /// A Dialpad API key, sent as a bearer token.
    Dialpad { api_key: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Yeastar { client_id, .. } => f
                .debug_struct("Yeastar")
                .field("client_id", &hint(client_id))
                .field("client_secret", &"<hidden>")
                .finish(),
            Credentials::Dialpad { .. } => f
                .debug_struct("Dialpad")
                .field("api_key", &"<hidden>")
                .finish(),
        }
    }
}

impl Credentials {
    /// The provider these credentials are for.
    pub fn provider(&self) -> Provider {
        match self {
            Credentials::Yeastar { .. } => Provider::Yeastar,
            Credentials::Dialpad { .. } => Provider::Dialpad,
        }
    }

    /// Checks every field: not empty, no whitespace or control character,
    /// at most [`MAX_CREDENTIAL_LEN`] bytes. Errors name the field, never
    /// its value.
    pub fn validate(&self) -> Result<(), ApiError> {
        let fields: Vec<(&'static str, &str)> = match self {
            Credentials::Yeastar {
                client_id,
                client_secret,
            } => vec![("client id", client_id), ("client secret", client_secret)],
            Credentials::Dialpad { api_key } => vec![("API key", api_key)],
        };
        for (field, value) in fields {
            let why = if value.is_empty() {
                Some("it is empty")
            } else if value.len() > MAX_CREDENTIAL_LEN {
                Some("it is longer than 1024 bytes")
            } else if value.chars().any(char::is_whitespace) {
                Some("it contains whitespace: give it exactly, one per line")
            } else if value.chars().any(char::is_control) {
                Some("it contains a control character")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ApiError::BadCredential { field, why });
            }
        }
        Ok(())
    }

    /// What `source list` may show of them: the start of a Yeastar client id.
    pub fn client_hint(&self) -> Option<String> {
        match self {
            Credentials::Yeastar { client_id, .. } => Some(hint(client_id)),
            Credentials::Dialpad { .. } => None,
        }
    }
}

/// The first 4 characters of `id` and an ellipsis (the whole of a shorter one
/// is not shown either).
fn hint(id: &str) -> String {
    let start: String = id.chars().take(4).collect();
    if id.chars().count() > 8 {
        format!("{start}…")
    } else {
        "…".to_string()
    }
}

/// The associated data of a source's sealed credentials (never a valid
/// source name, so never a signing secret's).
fn aad(source: &str) -> String {
    format!("api:{source}")
}

/// Errors of the API settings, worded for the person who typed the command.
/// None of them contains a credential.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("source {0:?} does not exist")]
    NoSource(String),
    #[error("source {name:?} is a {provider} source: only yeastar and dialpad sources have a phone system API the board can use")]
    NoApiProvider { name: String, provider: String },
    #[error("source {name:?} is a {source_provider} source; these are {given} credentials")]
    ProviderMismatch {
        name: String,
        source_provider: String,
        given: Provider,
    },
    #[error("invalid base URL {url:?}: {why}")]
    BadBaseUrl { url: String, why: &'static str },
    #[error("the {field} is refused: {why}")]
    BadCredential {
        field: &'static str,
        why: &'static str,
    },
    #[error("cannot open the API credentials of {name:?}: {cause}")]
    Sealed { name: String, cause: CryptoError },
    #[error("cannot seal the API credentials of {name:?}: {cause}")]
    Seal { name: String, cause: CryptoError },
    #[error("the API settings of {name:?} are unreadable: {why}")]
    Stored { name: String, why: String },
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Checks and normalises a base URL: `http(s)://host[:port][/path]`, no
/// user name or password, query or fragment, no whitespace; a trailing `/`
/// is dropped. (Plain `http://` is accepted for loopback and tests; the
/// caller warns about it elsewhere.)
pub fn normalize_base_url(url: &str) -> Result<String, ApiError> {
    let bad = |why| ApiError::BadBaseUrl {
        url: url.to_string(),
        why,
    };
    let t = url.trim();
    if t.len() > MAX_BASE_URL_LEN {
        return Err(bad("longer than 512 bytes"));
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    let lower = t.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &t[8..]
    } else if lower.starts_with("http://") {
        &t[7..]
    } else {
        return Err(bad("it must start with https:// (or http://)"));
    };
    if rest.contains(['?', '#']) {
        return Err(bad("it may not have a query or a fragment"));
    }
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    if host.contains('@') {
        return Err(bad("it may not carry a user name or password"));
    }
    let scheme = &t[..t.len() - rest.len()];
    Ok(format!(
        "{}{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    ))
}

/// Whether `base_url` is plain HTTP to a host other than loopback (the
/// credentials would cross the network in the clear).
pub fn is_plain_http_remote(base_url: &str) -> bool {
    let Some(rest) = base_url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    !(host == "localhost" || host.starts_with("127.") || host == "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    use crate::secrets::{Keyring, SecretsKey, KEY_LEN};

    fn ring() -> Keyring {
        Keyring::new(SecretsKey::from_bytes(&[3; KEY_LEN]), None)
    }

    #[test]
    fn debug_hides_the_secrets() {
        let y = Credentials::Yeastar {
            client_id: "UEnH9Dmv6uBJEXsYcag1trNfQThYXXXX".into(),
            client_secret: "ZLcXl63S9EtMnYoHUnjbVo6sA8CbXXXX".into(),
        };
        let d = format!("{y:?}");
        assert!(!d.contains("ZLcX") && !d.contains("UEnH9Dmv6u"), "{d}");
        assert!(d.contains("UEnH…"), "{d}");
        let k = Credentials::Dialpad {
            api_key: "dp-key-0123456789".into(),
        };
        assert!(!format!("{k:?}").contains("dp-key"));
        let s = ApiSettings {
            source: "pbx".into(),
            base_url: "https://pbx".into(),
            credentials: y,
            fingerprint: "00000000".into(),
            updated_at: Utc::now(),
        };
        assert!(!format!("{s:?}").contains("ZLcX"));
        assert_eq!(hint("short"), "…");
    }

    #[test]
    fn sealed_under_api_aad() {
        let keys = ring();
        let c = Credentials::Dialpad {
            api_key: "dp-key-0123456789".into(),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"provider":"dialpad","api_key":"dp-key-0123456789"}"#
        );
        let s = keys.seal(&aad("sales"), &json).unwrap();
        assert!(keys
            .open("sales", &s.key_id, &s.nonce, &s.ciphertext)
            .is_err());
        assert!(keys
            .open(&aad("other"), &s.key_id, &s.nonce, &s.ciphertext)
            .is_err());
        let back: Credentials = serde_json::from_str(
            &keys
                .open(&aad("sales"), &s.key_id, &s.nonce, &s.ciphertext)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn credentials_are_checked_without_showing_them() {
        let bad = Credentials::Yeastar {
            client_id: "id-0123456789".into(),
            client_secret: "has space".into(),
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(
            e.contains("client secret") && !e.contains("has space"),
            "{e}"
        );
        assert!(Credentials::Dialpad {
            api_key: String::new()
        }
        .validate()
        .is_err());
        assert!(Credentials::Dialpad {
            api_key: "k".repeat(MAX_CREDENTIAL_LEN + 1)
        }
        .validate()
        .is_err());
        assert!(Credentials::Dialpad {
            api_key: "ok-key".into()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            normalize_base_url("https://pbx.example.com:8088/").unwrap(),
            "https://pbx.example.com:8088"
        );
        assert_eq!(
            normalize_base_url(" HTTPS://Pbx.example.com ").unwrap(),
            "https://Pbx.example.com"
        );
        assert_eq!(
            normalize_base_url("http://127.0.0.1:9000/prefix/").unwrap(),
            "http://127.0.0.1:9000/prefix"
        );
        for bad in [
            "",
            "pbx.example.com",
            "ftp://pbx",
            "https://",
            "https:///x",
            "https://user:pw@pbx",
            "https://pbx/?a=1",
            "https://pbx/#x",
            "https://pb x",
        ] {
            assert!(normalize_base_url(bad).is_err(), "{bad:?}");
        }
        assert!(is_plain_http_remote("http://10.0.0.5:8088"));
        assert!(!is_plain_http_remote("http://127.0.0.1:8088"));
        assert!(!is_plain_http_remote("http://localhost"));
        assert!(!is_plain_http_remote("https://10.0.0.5"));
    }
}
