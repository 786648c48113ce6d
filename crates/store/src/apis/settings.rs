//! A source's API settings (`worker source set-api|clear-api|list`, read by
//! the board): stored sealed, opened only with the key.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Bytea, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::Provider;

use super::{aad, normalize_base_url, ApiError, Credentials};
use crate::secrets::{self, Keyring};

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
