//! Access to the board: login sessions, the login rate limit and read-only
//! API tokens. A session cookie and an API token are 32 random bytes
//! (Base64url); only their SHA-256 is stored, so a copy of the database
//! opens no board. Every board instance reads the same rows, so a session
//! is valid on all of them and survives their restarts, and the rate limit
//! counts attempts made on any of them.
//!
//! Here: the secrets they hand out and the errors; one file each for
//! sessions, the rate limit and tokens.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::users::UserError;

mod rate_limit;
mod scopes;
mod sessions;
mod tokens;

pub use rate_limit::{begin_login, clear_login_failures, Attempt, LoginLimit};
pub use scopes::{set_stream_scope, stream_scope};
pub use sessions::{close_session, open_session, session, Session};
pub use tokens::{add_token, list_tokens, revoke_token, token, Token};

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

/// Characters of a secret after its prefix: 32 bytes in Base64url.
const SECRET_CHARS: usize = 43;

/// Whether `value` has the shape of a session cookie: 43 Base64url
/// characters. Anything else opens no session, and is not looked up.
pub fn session_shaped(value: &str) -> bool {
    value.len() == SECRET_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `value` has the shape of an API token: [`TOKEN_PREFIX`], then
/// as [`session_shaped`].
pub fn token_shaped(value: &str) -> bool {
    value.strip_prefix(TOKEN_PREFIX).is_some_and(session_shaped)
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
        assert!(session_shaped(a.expose()) && !token_shaped(a.expose()));
        assert!(token_shaped(b.expose()) && !session_shaped(b.expose()));
    }

    #[test]
    fn other_shapes_are_neither() {
        let nul = format!("{}\0{}", "a".repeat(21), "a".repeat(21));
        let other = format!("{}+", "a".repeat(42));
        for v in ["", "a", nul.as_str(), other.as_str(), &"a".repeat(44)] {
            assert!(!session_shaped(v), "{v:?}");
            assert!(!token_shaped(&format!("{TOKEN_PREFIX}{v}")), "{v:?}");
        }
    }
}
