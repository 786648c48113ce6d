//! Login sessions: opened on a login, looked up on every request by the
//! cookie's digest, closed on logout.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bytea, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{digest, random_secret, seconds, AccessError, Secret};
use crate::users::Role;

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
    // A value of another shape cannot be a session: skip the query.
    if !super::session_shaped(token) {
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
