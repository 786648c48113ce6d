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

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bytea, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::Provider;
use serde::{Deserialize, Serialize};

use crate::secrets::{self, CryptoError, Keyring};

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

// --------------------------------------------------------------- settings --

/// A source's API settings, opened.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub source: String,
    pub base_url: String,
    pub credentials: Credentials,
    /// 8 hex digits of the keyed fingerprint of the credentials (changes
    /// when they do).
    pub fingerprint: String,
    pub updated_at: DateTime<Utc>,
}

impl ApiSettings {
    pub fn provider(&self) -> Provider {
        self.credentials.provider()
    }
}

/// A source's API settings as `source list` shows them: never a credential.
#[derive(Debug, Clone)]
pub struct ApiLine {
    pub source: String,
    pub provider: String,
    pub base_url: String,
    /// The start of the Yeastar client id (see [`Credentials::client_hint`]).
    pub client_hint: Option<String>,
    /// 8 hex digits of the keyed fingerprint.
    pub fingerprint: String,
    pub key_id: String,
    /// Its key is loaded (it opens).
    pub key_loaded: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct SourceProvider {
    #[diesel(sql_type = Text)]
    provider: String,
}

/// The provider of source `name`, when it may have API settings; errors
/// for an unknown source and a Standard Webhooks one.
pub async fn api_provider(conn: &mut AsyncPgConnection, name: &str) -> Result<Provider, ApiError> {
    let mut rows: Vec<SourceProvider> =
        diesel::sql_query("SELECT provider FROM sources WHERE name = $1")
            .bind::<Text, _>(name)
            .load(conn)
            .await?;
    let p = rows
        .pop()
        .ok_or_else(|| ApiError::NoSource(name.to_string()))?
        .provider;
    match p.parse::<Provider>() {
        Ok(p @ (Provider::Yeastar | Provider::Dialpad)) => Ok(p),
        _ => Err(ApiError::NoApiProvider {
            name: name.to_string(),
            provider: p,
        }),
    }
}

/// What [`set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetApi {
    /// There were no settings before (otherwise they were replaced).
    pub created: bool,
    /// 8 hex digits of the keyed fingerprint of the new credentials.
    pub fingerprint: String,
    /// The base URL as stored.
    pub base_url: String,
}

/// Sets (or replaces) the API settings of source `name`: `base_url`
/// (normalised) and `credentials` (validated, sealed with `keys`). The
/// credentials must be of the source's provider.
pub async fn set(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    base_url: &str,
    credentials: &Credentials,
) -> Result<SetApi, ApiError> {
    let base_url = normalize_base_url(base_url)?;
    credentials.validate()?;
    let json = serde_json::to_string(credentials).map_err(|e| ApiError::Stored {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    let sealed = keys
        .seal(&aad(name), &json)
        .map_err(|cause| ApiError::Seal {
            name: name.to_string(),
            cause,
        })?;
    conn.transaction(async |conn| {
        let provider = api_provider(conn, name).await?;
        if provider != credentials.provider() {
            return Err(ApiError::ProviderMismatch {
                name: name.to_string(),
                source_provider: provider.to_string(),
                given: credentials.provider(),
            });
        }
        #[derive(QueryableByName)]
        struct Created {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            created: bool,
        }
        let row: Created = diesel::sql_query(
            "INSERT INTO source_apis (source, provider, base_url, client_hint, ciphertext, nonce, key_id, fingerprint)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (source) DO UPDATE
                SET provider = EXCLUDED.provider, base_url = EXCLUDED.base_url,
                    client_hint = EXCLUDED.client_hint, ciphertext = EXCLUDED.ciphertext,
                    nonce = EXCLUDED.nonce, key_id = EXCLUDED.key_id,
                    fingerprint = EXCLUDED.fingerprint, updated_at = now()
             RETURNING (xmax = 0) AS created",
        )
        .bind::<Text, _>(name)
        .bind::<Text, _>(provider.as_str())
        .bind::<Text, _>(&base_url)
        .bind::<Nullable<Text>, _>(credentials.client_hint())
        .bind::<Bytea, _>(&sealed.ciphertext)
        .bind::<Bytea, _>(&sealed.nonce)
        .bind::<Text, _>(&sealed.key_id)
        .bind::<Bytea, _>(&sealed.fingerprint)
        .get_result(conn)
        .await?;
        Ok(SetApi {
            created: row.created,
            fingerprint: secrets::short_fingerprint(&sealed.fingerprint),
            base_url: base_url.clone(),
        })
    })
    .await
}

/// Removes the API settings of source `name`. Returns whether there were
/// any; errors when the source does not exist.
pub async fn clear(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, ApiError> {
    let n = diesel::sql_query("DELETE FROM source_apis WHERE source = $1")
        .bind::<Text, _>(name)
        .execute(conn)
        .await?;
    if n == 0 {
        let exists: Vec<SourceProvider> =
            diesel::sql_query("SELECT provider FROM sources WHERE name = $1")
                .bind::<Text, _>(name)
                .load(conn)
                .await?;
        if exists.is_empty() {
            return Err(ApiError::NoSource(name.to_string()));
        }
    }
    Ok(n > 0)
}

#[derive(QueryableByName)]
struct ApiRow {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Text)]
    base_url: String,
    #[diesel(sql_type = Nullable<Text>)]
    client_hint: Option<String>,
    #[diesel(sql_type = Bytea)]
    ciphertext: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    nonce: Vec<u8>,
    #[diesel(sql_type = Text)]
    key_id: String,
    #[diesel(sql_type = Bytea)]
    fingerprint: Vec<u8>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

const API_COLUMNS: &str =
    "source, provider, base_url, client_hint, ciphertext, nonce, key_id, fingerprint, updated_at";

/// The API settings of source `name`, opened with `keys`; `None` when it
/// has none. Fails when they do not open (key not loaded, tampered row) or
/// do not match the row's provider.
pub async fn get(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
) -> Result<Option<ApiSettings>, ApiError> {
    let mut rows: Vec<ApiRow> = diesel::sql_query(format!(
        "SELECT {API_COLUMNS} FROM source_apis WHERE source = $1"
    ))
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    let Some(r) = rows.pop() else {
        return Ok(None);
    };
    let json = keys
        .open(&aad(&r.source), &r.key_id, &r.nonce, &r.ciphertext)
        .map_err(|cause| ApiError::Sealed {
            name: r.source.clone(),
            cause,
        })?;
    let stored = |why: String| ApiError::Stored {
        name: r.source.clone(),
        why,
    };
    let credentials: Credentials = serde_json::from_str(&json)
        .map_err(|_| stored("the sealed document is not valid".into()))?;
    if credentials.provider().as_str() != r.provider {
        return Err(stored(format!(
            "the row says {} but the credentials are {}'s",
            r.provider,
            credentials.provider()
        )));
    }
    Ok(Some(ApiSettings {
        fingerprint: secrets::short_fingerprint(&r.fingerprint),
        source: r.source,
        base_url: r.base_url,
        credentials,
        updated_at: r.updated_at,
    }))
}

/// Every source's API settings, by source, without opening any.
pub async fn list(conn: &mut AsyncPgConnection, keys: &Keyring) -> Result<Vec<ApiLine>, ApiError> {
    let rows: Vec<ApiRow> = diesel::sql_query(format!(
        "SELECT {API_COLUMNS} FROM source_apis ORDER BY source"
    ))
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiLine {
            key_loaded: keys.has(&r.key_id),
            fingerprint: secrets::short_fingerprint(&r.fingerprint),
            source: r.source,
            provider: r.provider,
            base_url: r.base_url,
            client_hint: r.client_hint,
            key_id: r.key_id,
            updated_at: r.updated_at,
        })
        .collect())
}

/// What [`rekey`] did to the API settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Rows resealed under the current key.
    pub resealed: usize,
    /// Rows already under the current key (untouched).
    pub current: usize,
}

/// Reseals every source's API credentials under the current key (after a
/// key rotation, with the old key loaded as the previous one). All or
/// nothing: one row that does not open fails the run, changing nothing.
pub async fn rekey(conn: &mut AsyncPgConnection, keys: &Keyring) -> Result<Rekeyed, ApiError> {
    conn.transaction(async |conn| {
        let rows: Vec<ApiRow> = diesel::sql_query(format!(
            "SELECT {API_COLUMNS} FROM source_apis ORDER BY source FOR UPDATE"
        ))
        .load(conn)
        .await?;
        let mut done = Rekeyed::default();
        for r in rows {
            if r.key_id == keys.current_id() {
                done.current += 1;
                continue;
            }
            let json = keys
                .open(&aad(&r.source), &r.key_id, &r.nonce, &r.ciphertext)
                .map_err(|cause| ApiError::Sealed {
                    name: r.source.clone(),
                    cause,
                })?;
            let s = keys
                .seal(&aad(&r.source), &json)
                .map_err(|cause| ApiError::Seal {
                    name: r.source.clone(),
                    cause,
                })?;
            diesel::sql_query(
                "UPDATE source_apis SET ciphertext = $2, nonce = $3, key_id = $4, fingerprint = $5
                 WHERE source = $1",
            )
            .bind::<Text, _>(&r.source)
            .bind::<Bytea, _>(&s.ciphertext)
            .bind::<Bytea, _>(&s.nonce)
            .bind::<Text, _>(&s.key_id)
            .bind::<Bytea, _>(&s.fingerprint)
            .execute(conn)
            .await?;
            done.resealed += 1;
        }
        Ok(done)
    })
    .await
}

// ------------------------------------------------------------------ audit --

/// How an action ended (`call_actions.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The provider accepted it.
    Ok,
    /// The provider answered with an error.
    ProviderError,
    /// No answer within the board's timeout (the provider may have acted).
    Timeout,
    /// No connection to the provider.
    Unreachable,
    /// The board refused before asking the provider.
    Refused,
    /// The source has no usable API settings.
    NoApi,
    /// The leg had already ended.
    NotLive,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::ProviderError,
        Outcome::Timeout,
        Outcome::Unreachable,
        Outcome::Refused,
        Outcome::NoApi,
        Outcome::NotLive,
    ];

    /// The name stored in `call_actions.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ProviderError => "provider_error",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Refused => "refused",
            Outcome::NoApi => "no_api",
            Outcome::NotLive => "not_live",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

/// One action to record.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub user_name: &'a str,
    pub source: &'a str,
    pub call_id: &'a str,
    pub leg_id: &'a str,
    pub channel_id: Option<&'a str>,
    pub outcome: Outcome,
    /// Cut to [`MAX_ANSWER_LEN`] bytes (at a character boundary).
    pub provider_answer: Option<&'a str>,
    pub duration_ms: Option<i32>,
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Records an action (hang-up). (No `RETURNING`: the board may insert
/// audit rows, never read them.)
pub async fn record(
    conn: &mut AsyncPgConnection,
    a: &NewAction<'_>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO call_actions (user_name, source, call_id, leg_id, channel_id, action,
                                   outcome, provider_answer, duration_ms)
         VALUES ($1, $2, $3, $4, $5, 'hangup', $6, $7, $8)",
    )
    .bind::<Text, _>(a.user_name)
    .bind::<Text, _>(a.source)
    .bind::<Text, _>(a.call_id)
    .bind::<Text, _>(a.leg_id)
    .bind::<Nullable<Text>, _>(a.channel_id)
    .bind::<Text, _>(a.outcome.as_str())
    .bind::<Nullable<Text>, _>(a.provider_answer.map(|s| truncate(s, MAX_ANSWER_LEN)))
    .bind::<Nullable<Integer>, _>(a.duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// An audited action, as `worker audit` shows it.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct ActionRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub call_id: String,
    #[diesel(sql_type = Text)]
    pub leg_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub channel_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider_answer: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub duration_ms: Option<i32>,
}

/// The newest `limit` actions (of `source` only, when given), newest first.
pub async fn audit(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<ActionRow>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT id, at, user_name, source, call_id, leg_id, channel_id, action, outcome,
                provider_answer, duration_ms
           FROM call_actions
          WHERE $1::text IS NULL OR source = $1
          ORDER BY id DESC
          LIMIT $2",
    )
    .bind::<Nullable<Text>, _>(source)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{SecretsKey, KEY_LEN};

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

    #[test]
    fn outcomes_and_truncation() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("pending".parse::<Outcome>().is_err());
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
