//! Read-only API tokens: created, listed, revoked by the operator
//! (`worker token`), looked up by the board on every API request.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Bytea, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{digest, random_secret, AccessError, Secret, TOKEN_PREFIX};

/// An API token as listed (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates API token `name`; returns its value, which is shown once and
/// never stored. A name that exists (even revoked) is refused.
pub async fn add_token(conn: &mut AsyncPgConnection, name: &str) -> Result<Secret, AccessError> {
    crate::users::validate_name(name).map_err(|_| AccessError::BadName(name.to_string()))?;
    let secret = random_secret(TOKEN_PREFIX)?;
    let inserted = diesel::sql_query(
        "INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Text, _>(name)
    .bind::<Bytea, _>(digest(secret.expose()))
    .execute(conn)
    .await?;
    if inserted == 0 {
        return Err(AccessError::TokenExists(name.to_string()));
    }
    Ok(secret)
}

/// Every API token, by name.
pub async fn list_tokens(conn: &mut AsyncPgConnection) -> Result<Vec<Token>, AccessError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Timestamptz)]
        created_at: DateTime<Utc>,
        #[diesel(sql_type = Nullable<Timestamptz>)]
        last_used_at: Option<DateTime<Utc>>,
        #[diesel(sql_type = Nullable<Timestamptz>)]
        revoked_at: Option<DateTime<Utc>>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT name, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY name",
    )
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Token {
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes API token `name`. Returns `false` when it was revoked already.
pub async fn revoke_token(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, AccessError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Timestamptz)]
        revoked_at: DateTime<Utc>,
        #[diesel(sql_type = Timestamptz)]
        now: DateTime<Utc>,
    }
    let mut rows: Vec<Row> = diesel::sql_query(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE name = $1
         RETURNING revoked_at, now() AS now",
    )
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    rows.pop()
        .map(|r| r.revoked_at == r.now)
        .ok_or_else(|| AccessError::NoToken(name.to_string()))
}

/// The name of the valid (not revoked) API token `value`, stamping its last
/// use (at most once a minute); `None` when it opens nothing.
pub async fn token(
    conn: &mut AsyncPgConnection,
    value: &str,
) -> Result<Option<String>, AccessError> {
    if !super::token_shaped(value) {
        return Ok(None);
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let hash = digest(value);
    let mut rows: Vec<Row> = diesel::sql_query(
        "SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind::<Bytea, _>(&hash)
    .load(conn)
    .await?;
    let Some(row) = rows.pop() else {
        return Ok(None);
    };
    diesel::sql_query(
        "UPDATE api_tokens SET last_used_at = now()
          WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind::<Bytea, _>(&hash)
    .execute(conn)
    .await?;
    Ok(Some(row.name))
}
