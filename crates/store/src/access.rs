//! Access to the board: login sessions, the login rate limit and read-only
//! API tokens. A session cookie and an API token are 32 random bytes
//! (Base64url); only their SHA-256 is stored, so a copy of the database
//! opens no board. Every board instance reads the same rows, so a session
//! is valid on all of them and survives their restarts, and the rate limit
//! counts attempts made on any of them.

use std::net::IpAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bytea, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ring::rand::{SecureRandom, SystemRandom};

use crate::users::{Role, UserError};

/// The prefix of an API token, so that one pasted in the wrong place is
/// recognisable (and secret scanners can find it).
pub const TOKEN_PREFIX: &str = "sbt_";

/// A secret value (a session cookie, an API token): what the user holds.
/// Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value to hand over (cookie value, printed token). Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Errors of session and token storage.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the system's random generator failed")]
    Random,
    #[error("invalid token name {0:?}: use 1-63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("token {0:?} does not exist")]
    NoToken(String),
    #[error(
        "token {0:?} exists already (a revoked token's name stays taken): choose another name"
    )]
    TokenExists(String),
    #[error("a stored role is unusable: {0}")]
    StoredRole(#[from] UserError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

fn random_secret(prefix: &str) -> Result<Secret, AccessError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AccessError::Random)?;
    Ok(Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// The SHA-256 of a presented value: what the tables store and look up.
fn digest(value: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, value.as_bytes())
        .as_ref()
        .to_vec()
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

// ----------------------------------------------------------------- sessions

/// A valid session: whose it is and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

/// Opens a session for user `user_id` lasting `ttl`, from `address`.
/// Returns the cookie value (shown once) and when it expires. Expired
/// sessions of anyone are deleted on the way.
pub async fn open_session(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    ttl: Duration,
    address: Option<IpAddr>,
) -> Result<(Secret, DateTime<Utc>), AccessError> {
    let secret = random_secret("")?;
    diesel::sql_query("DELETE FROM board_sessions WHERE expires_at < now()")
        .execute(conn)
        .await?;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Timestamptz)]
        expires_at: DateTime<Utc>,
    }
    let row: Row = diesel::sql_query(
        "INSERT INTO board_sessions (token_hash, user_id, expires_at, address)
         VALUES ($1, $2, now() + make_interval(secs => $3), $4::inet)
         RETURNING expires_at",
    )
    .bind::<Bytea, _>(digest(secret.expose()))
    .bind::<BigInt, _>(user_id)
    .bind::<BigInt, _>(seconds(ttl))
    .bind::<Nullable<Text>, _>(address.map(|a| a.to_string()))
    .get_result(conn)
    .await?;
    Ok((secret, row.expires_at))
}

/// The session the cookie value `token` opens: `None` when unknown,
/// expired, or its user is disabled.
pub async fn session(
    conn: &mut AsyncPgConnection,
    token: &str,
) -> Result<Option<Session>, AccessError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        user_id: i64,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        role: String,
        #[diesel(sql_type = Timestamptz)]
        expires_at: DateTime<Utc>,
    }
    // A value of the wrong length cannot be a session: skip the query.
    if token.len() != 43 {
        return Ok(None);
    }
    let mut rows: Vec<Row> = diesel::sql_query(
        "SELECT s.user_id, u.name, u.role, s.expires_at
           FROM board_sessions s JOIN board_users u ON u.id = s.user_id
          WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL",
    )
    .bind::<Bytea, _>(digest(token))
    .load(conn)
    .await?;
    rows.pop()
        .map(|r| {
            Ok(Session {
                user_id: r.user_id,
                role: r.role.parse()?,
                name: r.name,
                expires_at: r.expires_at,
            })
        })
        .transpose()
}

/// Ends the session the cookie value `token` opens (logout). Returns
/// whether there was one.
pub async fn close_session(conn: &mut AsyncPgConnection, token: &str) -> Result<bool, AccessError> {
    let n = diesel::sql_query("DELETE FROM board_sessions WHERE token_hash = $1")
        .bind::<Bytea, _>(digest(token))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

// --------------------------------------------------------------- rate limit

/// How many failed logins are allowed, and over what window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Failures per user name within `window` before further attempts
    /// for that name are refused.
    pub per_user: i64,
    /// Failures per address within `window`.
    pub per_address: i64,
    pub window: Duration,
}

impl Default for LoginLimit {
    fn default() -> Self {
        LoginLimit {
            per_user: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// The name as the limit counts it: lower-cased, at most 64 characters
/// (anything longer could not be a user anyway).
fn limit_key(username: &str) -> String {
    username.to_lowercase().chars().take(64).collect()
}

/// What [`begin_login`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt may go ahead; it is counted as a failure already (so
    /// that concurrent guesses see it) until [`clear_login_failures`]
    /// forgives it on success.
    Allowed,
    /// Refused: too many failures; try again after this long.
    Blocked(Duration),
}

/// Starts a login for `username` from `address`: refuses it when the name
/// or the address is over its limit, and otherwise counts it as a failure
/// before the password is even checked. The check and the count are one
/// transaction serialised per name and per address (advisory locks), so a
/// burst of concurrent guesses gets no more password checks than the limit,
/// on any number of board instances. Failures older than the window are
/// deleted on the way.
pub async fn begin_login(
    conn: &mut AsyncPgConnection,
    limit: LoginLimit,
    username: &str,
    address: Option<IpAddr>,
) -> Result<Attempt, AccessError> {
    let name = limit_key(username);
    let addr = address.map(|a| a.to_string());
    conn.transaction(async |conn| {
        // Name first, then address: one order everywhere, no deadlock.
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(hashtextextended('switchboard.login.user:' || $1, 0)),
                    pg_advisory_xact_lock(hashtextextended('switchboard.login.address:' || COALESCE($2, ''), 0))",
        )
        .bind::<Text, _>(&name)
        .bind::<Nullable<Text>, _>(&addr)
        .execute(conn)
        .await?;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Nullable<BigInt>)]
            wait: Option<i64>,
        }
        // For each key over its limit: the time until the failure that
        // puts it over the limit leaves the window.
        let row: Row = diesel::sql_query(
            "WITH w AS (SELECT now() - make_interval(secs => $4) AS since),
             u AS (SELECT at FROM login_failures, w WHERE username = $1 AND at > w.since
                    ORDER BY at DESC OFFSET $2 - 1 LIMIT 1),
             a AS (SELECT at FROM login_failures, w WHERE address = $5::inet AND at > w.since
                    ORDER BY at DESC OFFSET $3 - 1 LIMIT 1)
             SELECT ceil(extract(epoch FROM
                      GREATEST((SELECT at FROM u), (SELECT at FROM a))
                      + make_interval(secs => $4) - now()))::bigint AS wait",
        )
        .bind::<Text, _>(&name)
        .bind::<BigInt, _>(limit.per_user.max(1))
        .bind::<BigInt, _>(limit.per_address.max(1))
        .bind::<BigInt, _>(seconds(limit.window))
        .bind::<Nullable<Text>, _>(&addr)
        .get_result(conn)
        .await?;
        if let Some(wait) = row.wait {
            return Ok(Attempt::Blocked(Duration::from_secs(
                u64::try_from(wait.max(1)).unwrap_or(1),
            )));
        }
        diesel::sql_query(
            "WITH old AS (DELETE FROM login_failures WHERE at < now() - make_interval(secs => $3))
             INSERT INTO login_failures (username, address) VALUES ($1, $2::inet)",
        )
        .bind::<Text, _>(&name)
        .bind::<Nullable<Text>, _>(&addr)
        .bind::<BigInt, _>(seconds(limit.window))
        .execute(conn)
        .await?;
        Ok(Attempt::Allowed)
    })
    .await
}

/// Forgets the failures counted against `username` (after a successful
/// login, the attempt [`begin_login`] counted included; other names'
/// failures from the same address stay, so that guessing many names is
/// still slowed).
pub async fn clear_login_failures(
    conn: &mut AsyncPgConnection,
    username: &str,
) -> Result<(), AccessError> {
    diesel::sql_query("DELETE FROM login_failures WHERE username = $1")
        .bind::<Text, _>(limit_key(username))
        .execute(conn)
        .await?;
    Ok(())
}

// --------------------------------------------------------------- API tokens

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
    if !value.starts_with(TOKEN_PREFIX) || value.len() != TOKEN_PREFIX.len() + 43 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_base64url_of_32_bytes() {
        let a = random_secret("").unwrap();
        let b = random_secret(TOKEN_PREFIX).unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_eq!(b.expose().len(), TOKEN_PREFIX.len() + 43);
        assert!(b.expose().starts_with(TOKEN_PREFIX));
        assert_ne!(a.expose(), &b.expose()[TOKEN_PREFIX.len()..]);
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }

    #[test]
    fn the_limit_counts_names_case_blind_and_bounded() {
        assert_eq!(limit_key("Alice"), "alice");
        assert_eq!(limit_key(&"x".repeat(500)).len(), 64);
    }
}
