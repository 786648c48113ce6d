//! The login rate limit: failures counted per name and per address, in
//! the database so that every board instance counts them.

use std::net::IpAddr;
use std::time::Duration;

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{seconds, AccessError};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_names_case_blind_and_bounded() {
        assert_eq!(limit_key("Alice"), "alice");
        assert_eq!(limit_key(&"x".repeat(500)).len(), 64);
    }
}
