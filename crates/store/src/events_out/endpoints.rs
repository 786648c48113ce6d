//! Endpoints: where events are delivered. Each has a generated `whsec_`
//! secret (shown once), sealed like the sources' secrets with the name
//! `endpoint/NAME` as associated data; `rotate-secret` keeps the previous
//! one signing alongside the new for an overlap.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ring::rand::SecureRandom;

use crate::secrets::{CryptoError, Keyring};

/// Every endpoint secret starts with this (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";

/// Why an endpoint command was refused.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid endpoint name {0:?}: 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")]
    Name(String),
    #[error("unknown event type pattern {0:?}: use a type (call.ended), a family (call.*) or *")]
    Type(String),
    #[error("endpoint {0} already exists")]
    Exists(String),
    #[error("no endpoint named {0}")]
    Unknown(String),
    #[error("no source named {0}")]
    UnknownSource(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl From<diesel::result::Error> for EndpointError {
    fn from(e: diesel::result::Error) -> Self {
        EndpointError::Store(e.into())
    }
}

/// Whether `name` may name an endpoint.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// Whether `pattern` names event types: one type, `family.*`, or `*`.
fn valid_type(pattern: &str) -> bool {
    let types = domain::outbound::TYPES;
    pattern == "*"
        || types.contains(&pattern)
        || pattern
            .strip_suffix(".*")
            .is_some_and(|f| types.iter().any(|t| t.split('.').next() == Some(f)))
}

/// What `worker endpoint add` asks for (the URL checked by the caller).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub name: String,
    pub url: String,
    pub types: Vec<String>,
    pub source: Option<String>,
    pub allow_private: bool,
}

/// A new secret: `whsec_` and Base64 of 24 random bytes.
fn new_secret() -> Result<String, CryptoError> {
    let mut b = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| CryptoError::Random)?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(b)
    ))
}

/// The associated data an endpoint's secret is sealed with.
pub(super) fn sealing_name(name: &str) -> String {
    format!("endpoint/{name}")
}

/// Adds an endpoint. Returns its secret, to show once.
pub async fn add(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    e: &NewEndpoint,
) -> Result<String, EndpointError> {
    if !valid_name(&e.name) {
        return Err(EndpointError::Name(e.name.clone()));
    }
    if let Some(t) = e.types.iter().find(|t| !valid_type(t)) {
        return Err(EndpointError::Type(t.clone()));
    }
    let types: Vec<&str> = e
        .types
        .iter()
        .map(String::as_str)
        .filter(|t| *t != "*")
        .collect();
    if let Some(s) = &e.source {
        if !source_exists(conn, s).await? {
            return Err(EndpointError::UnknownSource(s.clone()));
        }
    }
    let secret = new_secret()?;
    let sealed = keys.seal(&sealing_name(&e.name), &secret)?;
    let n = diesel::sql_query(
        "INSERT INTO webhook_endpoints (name, url, types, source, allow_private, key_id, nonce,
            ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Text, _>(&e.name)
    .bind::<Text, _>(&e.url)
    .bind::<Array<Text>, _>(&types)
    .bind::<Nullable<Text>, _>(&e.source)
    .bind::<Bool, _>(e.allow_private)
    .bind::<Text, _>(&sealed.key_id)
    .bind::<Bytea, _>(&sealed.nonce)
    .bind::<Bytea, _>(&sealed.ciphertext)
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(EndpointError::Exists(e.name.clone()));
    }
    Ok(secret)
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn source_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, EndpointError> {
    let r: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM sources WHERE name = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(conn)
            .await?;
    Ok(r.exists)
}

/// Replaces an endpoint's secret with a new one (returned, to show once);
/// the old one signs alongside it for `overlap`.
pub async fn rotate_secret(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    overlap: Duration,
) -> Result<String, EndpointError> {
    let secret = new_secret()?;
    let sealed = keys.seal(&sealing_name(name), &secret)?;
    let n = diesel::sql_query(
        "UPDATE webhook_endpoints SET previous_key_id = key_id, previous_nonce = nonce,
            previous_ciphertext = ciphertext, previous_until = now() + $5 * interval '1 ms',
            key_id = $2, nonce = $3, ciphertext = $4, updated_at = now()
         WHERE name = $1",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(&sealed.key_id)
    .bind::<Bytea, _>(&sealed.nonce)
    .bind::<Bytea, _>(&sealed.ciphertext)
    .bind::<BigInt, _>(i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(EndpointError::Unknown(name.to_string()));
    }
    Ok(secret)
}

/// Enables or disables an endpoint (enabling clears the reason and the
/// failure streak; its pending deliveries resume). Errors if unknown.
pub async fn set_enabled(
    conn: &mut AsyncPgConnection,
    name: &str,
    enabled: bool,
) -> Result<(), EndpointError> {
    let n = diesel::sql_query(
        "UPDATE webhook_endpoints SET enabled = $2,
            disabled_reason = CASE WHEN $2 THEN NULL ELSE 'disabled by an operator' END,
            failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END, updated_at = now()
         WHERE name = $1",
    )
    .bind::<Text, _>(name)
    .bind::<Bool, _>(enabled)
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(EndpointError::Unknown(name.to_string()));
    }
    Ok(())
}

/// Removes an endpoint and its deliveries. Errors if unknown.
pub async fn remove(conn: &mut AsyncPgConnection, name: &str) -> Result<(), EndpointError> {
    // Deliveries have no foreign key (see the migration
    // deliveries_without_foreign_keys): they go in the same statement.
    let n = diesel::sql_query(
        "WITH e AS (DELETE FROM webhook_endpoints WHERE name = $1 RETURNING id),
              d AS (DELETE FROM webhook_deliveries WHERE endpoint_id IN (SELECT id FROM e))
         SELECT 1 FROM e",
    )
    .bind::<Text, _>(name)
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(EndpointError::Unknown(name.to_string()));
    }
    Ok(())
}

/// An endpoint as listed, with its delivery counts.
#[derive(Debug, Clone, QueryableByName)]
pub struct Endpoint {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Array<Text>)]
    pub types: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub source: Option<String>,
    #[diesel(sql_type = Bool)]
    pub allow_private: bool,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub disabled_reason: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub failing_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub previous_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
}

/// Every endpoint, by name, with its deliveries counted by state.
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<Endpoint>, crate::Error> {
    Ok(diesel::sql_query(
        "SELECT e.name, e.url, e.types, e.source, e.allow_private, e.enabled, e.disabled_reason,
                e.failing_since, e.previous_until,
                count(*) FILTER (WHERE d.state = 'pending') AS pending,
                count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
                count(*) FILTER (WHERE d.state = 'failed') AS failed
           FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
          GROUP BY e.id ORDER BY e.name",
    )
    .load(conn)
    .await?)
}

/// The secrets an endpoint signs with now: the current one, and the
/// previous one while its overlap lasts.
#[derive(Clone)]
pub struct SigningSecrets {
    pub current: String,
    pub previous: Option<String>,
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecrets(..)")
    }
}
