//! Board users: who may log in to the board, with their role and an
//! Argon2id hash of their password. Managed by the operator with `worker
//! user add|list|disable`.
//!
//! Passwords are hashed with Argon2id (RustCrypto `argon2`, its default
//! parameters) and a random salt, stored as a PHC string so that the
//! parameters travel with each hash (`hash.rs`, with the pool of memory
//! that logins check them in). A login spends exactly one hash check,
//! against a dummy hash when the user is unknown, so that its timing does
//! not tell whether a name exists. Nothing here logs, returns or formats a
//! password.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

mod extension;
mod hash;

pub use extension::{extension, set_extension, set_role, validate_extension};
pub use hash::{hash_password, Checks};

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes a password may have (bounds the work one login costs).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// What a board user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees the board.
    Viewer,
    /// Sees the board and may act on calls.
    Operator,
    /// An operator who may also listen, whisper and barge in on calls and
    /// pause or resume queue agents.
    Supervisor,
}

impl Role {
    /// The name stored in `board_users.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
        }
    }

    /// Whether this role may do what `needed` may (roles are ordered:
    /// viewer, operator, supervisor).
    pub fn may(self, needed: Role) -> bool {
        let rank = |r: Role| match r {
            Role::Viewer => 0,
            Role::Operator => 1,
            Role::Supervisor => 2,
        };
        rank(self) >= rank(needed)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UserError;

    fn from_str(s: &str) -> Result<Role, UserError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "supervisor" => Ok(Role::Supervisor),
            other => Err(UserError::BadRole(other.to_string())),
        }
    }
}

/// A board user as listed and as returned by a successful [`verify`]:
/// never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// When the user was disabled; `None` while they may log in.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Errors of the user commands, worded for the person who typed them.
/// None of them contains a password or a hash.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid user name {0:?}: use 1-63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("invalid role {0:?}: use viewer, operator or supervisor")]
    BadRole(String),
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error(
        "the password contains a control character (a tab, a line break, ...): give it as one line"
    )]
    PasswordControl,
    #[error("invalid extension {0:?}: use 1-32 of 0-9, A-Z, a-z, '*', '#', '+', '_', '.', '-'")]
    BadExtension(String),
    #[error("user {0:?} does not exist")]
    NoUser(String),
    #[error("user {name:?} has an unusable role {role:?} in the database")]
    StoredRole { name: String, role: String },
    /// Hashing failed (the message is the library's; it holds no secret).
    #[error("cannot hash the password: {0}")]
    Hash(argon2::password_hash::Error),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Checks a user name's shape (the same rule as the table's CHECK).
pub fn validate_name(name: &str) -> Result<(), UserError> {
    let b = name.as_bytes();
    let first_ok = b
        .first()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = b[1.min(b.len())..]
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'));
    if first_ok && rest_ok && b.len() <= 63 {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_string()))
    }
}

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters, at
/// most [`MAX_PASSWORD_BYTES`] bytes, no control characters.
pub fn validate_password(password: &str) -> Result<(), UserError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::PasswordTooLong);
    }
    if password.chars().any(char::is_control) {
        return Err(UserError::PasswordControl);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::PasswordTooShort);
    }
    Ok(())
}

/// Whether `password` could be anyone's: at most [`MAX_PASSWORD_BYTES`]
/// bytes and no control character, as [`add`] has always required. A login
/// with one that could not is refused without a check (it reveals nothing:
/// no account has such a password).
pub fn could_be_password(password: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES && !password.chars().any(char::is_control)
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    password_hash: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    disabled_at: Option<DateTime<Utc>>,
}

impl UserRow {
    fn into_user(self) -> Result<(User, String), UserError> {
        let role = self.role.parse().map_err(|_| UserError::StoredRole {
            name: self.name.clone(),
            role: self.role.clone(),
        })?;
        Ok((
            User {
                id: self.id,
                name: self.name,
                role,
                created_at: self.created_at,
                disabled_at: self.disabled_at,
            },
            self.password_hash,
        ))
    }
}

/// The login decision, given the stored user and hash (`None`: no such
/// user): [`Checks::check`] in memory of its own (19 MiB, allocated and
/// freed: for a command run once; the board keeps a [`Checks`]).
pub fn check(stored: Option<(User, String)>, password: &str) -> Option<User> {
    Checks::new(1).check(stored, password)
}

/// What [`add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// The user was created (not there before); otherwise their role and
    /// password were replaced and they were enabled again.
    pub created: bool,
}

/// Creates user `name` with `role` and `password` (validated, then hashed),
/// or, when the name exists, sets its role and password and enables it.
pub async fn add(
    conn: &mut AsyncPgConnection,
    name: &str,
    role: Role,
    password: &str,
) -> Result<Added, UserError> {
    validate_name(name)?;
    validate_password(password)?;
    let hash = hash_password(password)?;
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = Bool)]
        created: bool,
    }
    let row: Created = diesel::sql_query(
        "INSERT INTO board_users (name, role, password_hash) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE
            SET role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, disabled_at = NULL
         RETURNING (xmax = 0) AS created",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(role.as_str())
    .bind::<Text, _>(&hash)
    .get_result(conn)
    .await?;
    if !row.created {
        // A new password: whoever is logged in with the old one is not.
        end_sessions(conn, name).await?;
    }
    Ok(Added {
        created: row.created,
    })
}

/// The user `name` and their password hash, for [`check`]; `None` when
/// there is no such user (or the name cannot be one). Run the check apart
/// (it is CPU-bound: tens of milliseconds) and always run it, also on
/// `None`, so that timing does not reveal whether a name exists.
pub async fn lookup(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<(User, String)>, UserError> {
    if validate_name(name).is_err() {
        return Ok(None);
    }
    let mut rows: Vec<UserRow> = diesel::sql_query(
        "SELECT id, name, role, password_hash, created_at, disabled_at
           FROM board_users WHERE name = $1",
    )
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    rows.pop().map(UserRow::into_user).transpose()
}

/// The user `name` when `password` is theirs and they are not disabled;
/// `None` otherwise (unknown, disabled, wrong password: not told apart).
/// [`lookup`] then [`check`], on the calling thread.
pub async fn verify(
    conn: &mut AsyncPgConnection,
    name: &str,
    password: &str,
) -> Result<Option<User>, UserError> {
    let stored = lookup(conn, name).await?;
    Ok(check(stored, password))
}

/// Every user, by name (without their hashes).
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<User>, UserError> {
    let rows: Vec<UserRow> = diesel::sql_query(
        "SELECT id, name, role, password_hash, created_at, disabled_at
           FROM board_users ORDER BY name",
    )
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|r| r.into_user().map(|(u, _)| u))
        .collect()
}

/// Disables user `name` (they can no longer log in). Returns `false` when
/// they were disabled already (left as they were).
pub async fn disable(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, UserError> {
    #[derive(QueryableByName)]
    struct Changed {
        #[diesel(sql_type = Bool)]
        changed: bool,
    }
    let mut rows: Vec<Changed> = diesel::sql_query(
        "UPDATE board_users SET disabled_at = COALESCE(disabled_at, now())
          WHERE name = $1
         RETURNING (disabled_at = now()) AS changed",
    )
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    let changed = rows
        .pop()
        .map(|r| r.changed)
        .ok_or_else(|| UserError::NoUser(name.to_string()))?;
    // A disabled user's open boards close at their next session check.
    end_sessions(conn, name).await?;
    Ok(changed)
}

/// Ends every board session of user `name`; returns how many there were.
async fn end_sessions(conn: &mut AsyncPgConnection, name: &str) -> Result<usize, UserError> {
    Ok(diesel::sql_query(
        "DELETE FROM board_sessions WHERE user_id IN (SELECT id FROM board_users WHERE name = $1)",
    )
    .bind::<Text, _>(name)
    .execute(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery staple";

    fn stored(hash: String, disabled: bool) -> Option<(User, String)> {
        let now = Utc::now();
        Some((
            User {
                id: 1,
                name: "alice".into(),
                role: Role::Viewer,
                created_at: now,
                disabled_at: disabled.then_some(now),
            },
            hash,
        ))
    }

    #[test]
    fn the_right_password_verifies() {
        let hash = hash_password(PASSWORD).unwrap();
        let user = check(stored(hash, false), PASSWORD).expect("verified");
        assert_eq!(user.name, "alice");
    }

    #[test]
    fn a_wrong_password_does_not() {
        let hash = hash_password(PASSWORD).unwrap();
        assert!(check(stored(hash.clone(), false), "correct horse battery stapler").is_none());
        assert!(check(stored(hash.clone(), false), "").is_none());
        assert!(check(stored(hash, false), "Correct horse battery staple").is_none());
    }

    #[test]
    fn an_unknown_user_does_not_and_still_spends_a_check() {
        // Against the dummy hash, in the pool's memory: one buffer made.
        let checks = Checks::new(4);
        assert!(checks.check(None, PASSWORD).is_none());
        assert_eq!(checks.buffers(), 1);
    }

    #[test]
    fn a_disabled_user_does_not() {
        let hash = hash_password(PASSWORD).unwrap();
        assert!(check(stored(hash, true), PASSWORD).is_none());
    }

    #[test]
    fn names_and_passwords_are_checked() {
        for ok in ["alice", "a", "ops.team-1_x", "0day", &"a".repeat(63)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", "-x", ".x", "a b", "a/b", "é", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            validate_password("short-pass1"),
            Err(UserError::PasswordTooShort)
        ));
        assert!(validate_password("twelve-chars").is_ok());
        assert!(matches!(
            validate_password("has\ta tab in it"),
            Err(UserError::PasswordControl)
        ));
        assert!(matches!(
            validate_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(UserError::PasswordTooLong)
        ));
        assert!(could_be_password("twelve-chars") && could_be_password(""));
        for bad in ["a\0b", "tab\there", &"x".repeat(MAX_PASSWORD_BYTES + 1)] {
            assert!(!could_be_password(bad), "{bad:?}");
        }
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert!("admin".parse::<Role>().is_err());
        assert_eq!("supervisor".parse::<Role>().unwrap(), Role::Supervisor);
        assert!(Role::Supervisor.may(Role::Operator) && Role::Operator.may(Role::Operator));
        assert!(!Role::Operator.may(Role::Supervisor) && !Role::Viewer.may(Role::Operator));
    }
}
