//! Sources (one per sender) and their signing secrets: the lookup ingest
//! verifies with, the activity stamp, and the operator's source commands.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::Provider;

use crate::schema::{source_secrets, sources};

/// Errors of the source commands, worded for the person who typed them.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {0:?} does not exist")]
    NoSource(String),
    #[error("source {0:?} already exists with provider {1}")]
    ProviderMismatch(String, String),
    #[error("invalid source name {0:?}: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadName(String),
    #[error("a {0} source needs at least one --secret")]
    SecretRequired(Provider),
    #[error("no active secret of {0:?} matches {1:?}")]
    NoSecret(String, String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Whether `name` is a valid source name (the URL slug `/webhooks/NAME`).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

// ---------------------------------------------------------------- lookup --

/// A source as ingest needs it to verify a webhook.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub provider: Provider,
    /// Active secrets: any of them may have signed.
    pub secrets: Vec<String>,
}

#[derive(QueryableByName)]
struct VerifierRow {
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    secret: Option<String>,
}

const LOOKUP: &str = "SELECT s.provider, s.enabled, k.secret
     FROM sources s
     LEFT JOIN source_secrets k ON k.source = s.name AND k.revoked_at IS NULL
     WHERE s.name = $1";

/// Looks up source `name`. Returns its provider and active secrets, or
/// `None` when it does not exist or is disabled.
pub async fn lookup(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<Verifier>, crate::Error> {
    let rows: Vec<VerifierRow> = diesel::sql_query(LOOKUP)
        .bind::<Text, _>(name)
        .load(conn)
        .await?;
    let Some(first) = <[VerifierRow]>::first(&rows) else {
        return Ok(None);
    };
    if !first.enabled {
        return Ok(None);
    }
    let Ok(provider) = first.provider.parse() else {
        return Ok(None);
    };
    Ok(Some(Verifier {
        provider,
        secrets: rows.into_iter().filter_map(|r| r.secret).collect(),
    }))
}

// -------------------------------------------------------------- activity --

const STAMP_RECEIVED: &str = "UPDATE sources SET last_received_at = now()
     WHERE name = ANY($1) AND (last_received_at IS NULL OR last_received_at < now())";

/// Records that `names` just received events. Returns the rows updated.
pub async fn stamp_received(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> Result<usize, crate::Error> {
    Ok(diesel::sql_query(STAMP_RECEIVED)
        .bind::<Array<Text>, _>(names)
        .execute(conn)
        .await?)
}

/// The last event received from a source (kept by ingest to the second).
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct SourceActivity {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_received_at: Option<DateTime<Utc>>,
}

/// Lists every source with its last arrival. Returns them by name.
pub async fn activity(conn: &mut AsyncPgConnection) -> Result<Vec<SourceActivity>, crate::Error> {
    Ok(diesel::sql_query(
        "SELECT name AS source, enabled, last_received_at FROM sources ORDER BY name",
    )
    .load(conn)
    .await?)
}

// -------------------------------------------------------------- commands --

/// Creates a source with its secrets. Re-running it for an existing source
/// of the same provider adds the secrets not yet there (idempotent).
/// Returns whether the source was created.
pub async fn add(
    conn: &mut AsyncPgConnection,
    name: &str,
    provider: Provider,
    secrets: &[String],
) -> Result<bool, SourceError> {
    if !valid_name(name) {
        return Err(SourceError::BadName(name.to_string()));
    }
    if secrets.is_empty() && provider != Provider::Dialpad {
        return Err(SourceError::SecretRequired(provider));
    }
    conn.transaction(async |conn| {
        let inserted = diesel::insert_into(sources::table)
            .values((
                sources::name.eq(name),
                sources::provider.eq(provider.as_str()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            let existing: String = sources::table
                .find(name)
                .select(sources::provider)
                .first(conn)
                .await?;
            if existing != provider.as_str() {
                return Err(SourceError::ProviderMismatch(name.to_string(), existing));
            }
        }
        for s in secrets {
            insert_secret(conn, name, s).await?;
        }
        Ok(inserted == 1)
    })
    .await
}

async fn insert_secret(
    conn: &mut AsyncPgConnection,
    source: &str,
    secret: &str,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(source_secrets::table)
        .values((
            source_secrets::source.eq(source),
            source_secrets::secret.eq(secret),
        ))
        .on_conflict((source_secrets::source, source_secrets::secret))
        .do_update()
        .set(source_secrets::revoked_at.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds (or re-activates) a secret of an existing source, for rotation.
pub async fn add_secret(
    conn: &mut AsyncPgConnection,
    name: &str,
    secret: &str,
) -> Result<(), SourceError> {
    let exists: i64 = sources::table
        .filter(sources::name.eq(name))
        .count()
        .get_result(conn)
        .await?;
    if exists == 0 {
        return Err(SourceError::NoSource(name.to_string()));
    }
    insert_secret(conn, name, secret).await?;
    Ok(())
}

/// Revokes the active secrets of a source that start with `prefix`.
/// Returns how many were revoked.
pub async fn revoke_secret(
    conn: &mut AsyncPgConnection,
    name: &str,
    prefix: &str,
) -> Result<usize, SourceError> {
    let active: Vec<(i64, String)> = source_secrets::table
        .filter(source_secrets::source.eq(name))
        .filter(source_secrets::revoked_at.is_null())
        .select((source_secrets::id, source_secrets::secret))
        .load(conn)
        .await?;
    let ids: Vec<i64> = active
        .into_iter()
        .filter(|(_, s)| !prefix.is_empty() && s.starts_with(prefix))
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Err(SourceError::NoSecret(name.to_string(), prefix.to_string()));
    }
    let n = diesel::update(source_secrets::table.filter(source_secrets::id.eq_any(&ids)))
        .set(source_secrets::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(n)
}

/// Enables or disables a source (a disabled source's webhooks get 404).
pub async fn set_enabled(
    conn: &mut AsyncPgConnection,
    name: &str,
    enabled: bool,
) -> Result<(), SourceError> {
    let n = diesel::update(sources::table.find(name))
        .set(sources::enabled.eq(enabled))
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(SourceError::NoSource(name.to_string()));
    }
    Ok(())
}

/// A source with its active secrets, as `source list` shows it.
#[derive(Debug, Clone)]
pub struct SourceLine {
    pub name: String,
    pub provider: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// Active secrets (the caller masks them for display).
    pub secrets: Vec<String>,
}

/// Lists the sources with their active secrets. Returns them by name.
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<SourceLine>, SourceError> {
    let rows: Vec<(String, String, bool, DateTime<Utc>)> = sources::table
        .order(sources::name)
        .select((
            sources::name,
            sources::provider,
            sources::enabled,
            sources::created_at,
        ))
        .load(conn)
        .await?;
    let secrets: Vec<(String, String)> = source_secrets::table
        .filter(source_secrets::revoked_at.is_null())
        .order(source_secrets::id)
        .select((source_secrets::source, source_secrets::secret))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, provider, enabled, created_at)| SourceLine {
            secrets: secrets
                .iter()
                .filter(|(s, _)| *s == name)
                .map(|(_, secret)| secret.clone())
                .collect(),
            name,
            provider,
            enabled,
            created_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name("pbx-1"));
        assert!(valid_name("dialpad_main"));
        assert!(!valid_name("PBX"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(64)));
    }
}
