//! Where and how to connect: the URL as tokio-postgres reads it, plus the
//! TLS settings of libpq that it does not know (`sslmode=verify-ca`,
//! `verify-full`, `allow`, `sslrootcert`, `sslcert`, `sslkey`), served by
//! rustls with the ring provider.
//!
//! | `sslmode`            | TLS                         | certificate check                        |
//! |----------------------|-----------------------------|------------------------------------------|
//! | absent, `disable`    | never (plain TCP)           | -                                        |
//! | `allow`, `prefer`    | if the server offers it     | none                                     |
//! | `require`            | always                      | none; with `sslrootcert`: as `verify-ca` |
//! | `verify-ca`          | always                      | signed by a CA of `sslrootcert`          |
//! | `verify-full`        | always                      | as `verify-ca`, and valid for the host   |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the
//! Mozilla roots built in; `verify-ca`/`verify-full` without it read
//! `~/.postgresql/root.crt` as libpq does. `sslcert` and `sslkey` (PEM, the
//! key unencrypted) present a client certificate. Unlike libpq, an absent
//! `sslmode` means `disable`, and `PGSSLMODE`-style variables are not read.
//!
//! One file per concern: `params.rs` takes the TLS parameters out of the
//! URL, `config.rs` builds the rustls client for a mode, `verify.rs` holds
//! the certificate checks of `verify-ca` and of no check at all,
//! `target.rs` tries the URL's hosts in turn and explains a failed
//! connection, and `open.rs` makes one attempt on one host.

use std::fmt;
use std::path::PathBuf;

mod config;
mod open;
mod params;
mod target;
mod verify;

pub(crate) use target::Target;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, TlsError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(TlsError::BadMode(other.to_string())),
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Why TLS could not be set up or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslmode={0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    BadMode(String),
    #[error("sslmode={0} needs sslrootcert=PATH (a PEM file of the CA certificates to trust) or sslrootcert=system")]
    NoRootCert(SslMode),
    #[error("sslcert and sslkey go together: give both or neither")]
    ClientCertPair,
    #[error("cannot read {what} {path}: {error}")]
    Read {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{what} {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Config(rustls::Error),
    #[error("TLS with {host} failed (sslmode={mode}): {hint}: {error}")]
    Handshake {
        host: String,
        mode: SslMode,
        hint: String,
        error: rustls::Error,
    },
    #[error("sslmode={mode}: {host} does not accept TLS connections (is ssl off on the server?)")]
    NotOffered { host: String, mode: SslMode },
}
