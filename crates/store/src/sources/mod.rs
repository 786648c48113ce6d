//! Sources (one per sender) and their signing secrets: the lookup ingest
//! verifies with, the activity stamp, and the operator's source commands.
//!
//! Secrets are sealed at rest (see [`crate::secrets`]): every statement that
//! writes one seals it with the caller's [`Keyring`], and the lookup opens
//! them, failing (never dropping a secret, never reporting none) when one
//! does not open. Rows from before sealing (`secret` in plaintext,
//! `ciphertext` NULL) stay readable until [`rekey()`] seals them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Double, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::Provider;
pub use ipnet::IpNet;

use crate::secrets::{self, CryptoError, Keyring, SecretFormatError};

mod activity;
mod commands;
mod list;
mod lookup;
mod rekey;
mod timezone;

pub use activity::{activity, stamp_received, SourceActivity};
pub use commands::{
    add, add_secret, add_unvalidated, revoke_secret, set_enabled, set_networks, Added, AddedSecret,
};
pub use list::{list, SecretLine, SourceLine};
pub use lookup::{lookup, Verifier};
pub use rekey::{plaintext_count, rekey, without_secret, Rekeyed};
pub use timezone::set_timezone;

/// Errors of the source commands, worded for the person who typed them.
/// None of them contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {0:?} does not exist")]
    NoSource(String),
    #[error("source {0:?} already exists with provider {1}")]
    ProviderMismatch(String, String),
    #[error("invalid source name {0:?}: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadName(String),
    #[error("a {0} source needs a signing secret: pipe it on stdin (one per line) or give --secret-file PATH; to accept webhooks without any signature instead, pass --allow-unsigned (not recommended)")]
    SecretRequired(Provider),
    #[error("--allow-unsigned takes no secret: give either secrets or --allow-unsigned")]
    UnsignedWithSecrets,
    #[error("source {0:?} has active secrets: it cannot also accept unsigned webhooks")]
    UnsignedHasSecrets(String),
    #[error("source {0:?} has an unknown provider {1:?}")]
    BadProvider(String, String),
    #[error("secret {index} of {total} refused: {error}")]
    BadSecret {
        index: usize,
        total: usize,
        error: SecretFormatError,
    },
    #[error("this secret was revoked from {name:?} before (secret #{id}): a revoked secret may have leaked and is never accepted again; generate a new one")]
    Revoked { name: String, id: i64 },
    #[error("this secret of {name:?} expired (secret #{id}): a retired secret is never accepted again; generate a new one")]
    Expired { name: String, id: i64 },
    #[error("this secret is already active on {name:?} (secret #{id})")]
    AlreadyActive { name: String, id: i64 },
    #[error("source {name:?} has no secret #{id}")]
    NoSecretId { name: String, id: i64 },
    #[error("secret #{id} of {name:?} is already revoked")]
    AlreadyRevoked { name: String, id: i64 },
    #[error("refusing to revoke secret #{id} of {name:?}: no other active secret without an expiry would remain, and the source would refuse every webhook; add the new one first (worker source add-secret {name})")]
    LastSecret { name: String, id: i64 },
    #[error("secret #{id} of {name:?}: {cause}")]
    Sealed {
        name: String,
        id: i64,
        cause: CryptoError,
    },
    #[error("cannot seal a secret of {name:?}: {cause}")]
    Seal { name: String, cause: CryptoError },
    #[error("{0:?} is not a network: give a CIDR (10.0.0.0/8, 2001:db8::/32) or an address")]
    BadNetwork(String),
    #[error("{given} has host bits set: did you mean {network}?")]
    HostBits { given: String, network: String },
    #[error("give at least one network, or --clear to accept any sender")]
    NoNetworks,
    #[error(
        "unknown time zone {0:?}: give an IANA name such as Europe/Berlin, America/New_York or UTC"
    )]
    BadTimezone(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Why a source's settings could not be read for verification.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// A secret does not open (key not loaded, tampered row): the source
    /// must not be verified with fewer secrets than it has.
    #[error("cannot open secret #{id} of source {name:?}: {cause}")]
    Sealed {
        name: String,
        id: i64,
        cause: CryptoError,
    },
    /// A stored network does not parse (cannot happen with a `cidr[]`).
    #[error("source {name:?} has an unreadable allowed network {value:?}")]
    Network { name: String, value: String },
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

/// Parses an allowed network: a CIDR with no host bits set, or a single
/// address (as a /32 or /128).
pub fn parse_network(s: &str) -> Result<IpNet, SourceError> {
    let t = s.trim();
    let net = t
        .parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| SourceError::BadNetwork(s.to_string()))?;
    if net.trunc() != net {
        return Err(SourceError::HostBits {
            given: t.to_string(),
            network: net.trunc().to_string(),
        });
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::{parse_network, valid_name, SourceError};

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

    #[test]
    fn networks() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(matches!(
            parse_network("10.0.0.1/8"),
            Err(SourceError::HostBits { network, .. }) if network == "10.0.0.0/8"
        ));
        assert!(matches!(
            parse_network("10.0.0.0/33"),
            Err(SourceError::BadNetwork(_))
        ));
        assert!(matches!(
            parse_network("example.com"),
            Err(SourceError::BadNetwork(_))
        ));
        assert!(matches!(parse_network(""), Err(SourceError::BadNetwork(_))));
    }
}
