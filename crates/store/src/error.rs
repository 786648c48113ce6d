//! The storage error: what failed, with its cause kept typed, and whether
//! it is the database's fault (and which: [`Cause`]) or the request's.

use std::time::Duration;

use crate::cause::{classify, Cause};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pool could not be built (bad settings).
    #[error("cannot build the connection pool: {0}")]
    Build(#[from] diesel_async::pooled_connection::deadpool::BuildError),
    /// No pooled connection within the wait (database down or pool exhausted).
    #[error("no database connection: {0}")]
    Pool(#[from] diesel_async::pooled_connection::deadpool::PoolError),
    /// A direct connection failed.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// A statement failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// Applying a migration failed.
    #[error("migration failed: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The URL's TLS settings are unusable, or the TLS handshake failed
    /// (an untrusted certificate, a wrong host name, a server without TLS).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The server answers but takes no writes (a standby, read-only
    /// transactions by default).
    #[error("the database takes no writes: {0} (SQLSTATE 25006)")]
    NotWritable(String),
    /// The database did not finish an operation within its deadline (the
    /// connection it used was discarded).
    #[error("no answer from the database within {limit:?} ({what}; timed out)")]
    Deadline {
        /// What was being done.
        what: &'static str,
        /// The deadline.
        limit: Duration,
    },
}

impl Error {
    /// Whether the database is unreachable or failing as a whole (no
    /// connection, a lost connection, a pool timeout, a deadline, a server
    /// refusing writes, an internal or I/O error, a schema this binary
    /// does not expect during an upgrade), as opposed to a statement
    /// refused for what it was given (a constraint, bad encoding, a value
    /// out of range or too large for an index): only the second is the
    /// request's fault. Anything not known to be the request's fault counts
    /// as unavailable, so that ingest answers 503 and the sender retries
    /// rather than a 4xx that loses the webhook (a full data disk once
    /// showed `could not access status of transaction 0`, which names no
    /// cause).
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as K, Error as D};
        match self {
            Error::Pool(_) | Error::Connect(_) | Error::Deadline { .. } | Error::NotWritable(_) => {
                true
            }
            Error::Query(D::DatabaseError(
                K::UniqueViolation
                | K::ForeignKeyViolation
                | K::RestrictViolation
                | K::NotNullViolation
                | K::CheckViolation
                | K::ExclusionViolation,
                _,
            )) => false,
            Error::Query(D::DatabaseError(_, info)) => !refused_for_its_values(info.message()),
            Error::Query(_) => true,
            _ => false,
        }
    }

    /// Why the database is unavailable, when it is ([`Error::is_unavailable`]).
    pub fn cause(&self) -> Option<Cause> {
        use diesel::result::{DatabaseErrorKind, Error as D};
        if !self.is_unavailable() {
            return None;
        }
        let code = match self {
            Error::Query(D::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _)) => {
                Some("25006")
            }
            Error::Query(D::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => Some("08006"),
            Error::Deadline { .. } => Some("57014"),
            _ => None,
        };
        Some(classify(code, &self.with_sources()))
    }

    /// The error and its sources, joined by ": ".
    pub fn with_sources(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !text.contains(&s_text) {
                text.push_str(": ");
                text.push_str(&s_text);
            }
            source = s.source();
        }
        text
    }
}

/// Whether PostgreSQL refused a statement for the values it was given
/// (SQLSTATE classes 22, data exception, and 54, a value too large for an
/// index), by its message: diesel keeps no SQLSTATE for these. The
/// messages are PostgreSQL's in English (`lc_messages` `C` or `en_*`).
fn refused_for_its_values(message: &str) -> bool {
    const MARKERS: [&str; 9] = [
        "invalid byte sequence",
        "invalid input syntax",
        "invalid input value",
        "value too long",
        "out of range",
        "index row size",
        "index row requires",
        "null character not permitted",
        "payload string too long",
    ];
    MARKERS.iter().any(|m| message.contains(m)) && classify(None, message) == Cause::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind as K, Error as D};

    fn db(kind: K, message: &str) -> Error {
        Error::Query(D::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn only_what_a_request_gave_is_its_fault() {
        for e in [
            db(
                K::UniqueViolation,
                "duplicate key value violates unique constraint",
            ),
            db(K::CheckViolation, "new row violates check constraint"),
            db(
                K::Unknown,
                r#"invalid byte sequence for encoding "UTF8": 0x00"#,
            ),
            db(K::Unknown, "value too long for type character varying(64)"),
            db(
                K::Unknown,
                "index row size 3000 exceeds btree version 4 maximum 2704",
            ),
        ] {
            assert!(!e.is_unavailable(), "{e}");
            assert_eq!(e.cause(), None, "{e}");
        }
    }

    #[test]
    fn anything_else_is_the_databases_and_retried() {
        for (e, cause) in [
            // Seen with a full data disk: names no cause, must not be a 4xx.
            (
                db(K::Unknown, "could not access status of transaction 0"),
                Cause::Other,
            ),
            (
                db(
                    K::Unknown,
                    r#"could not extend file "base/1/2": No space left on device"#,
                ),
                Cause::DiskFull,
            ),
            // An old binary against a newer schema during an upgrade.
            (
                db(K::Unknown, r#"cannot update view "webhook_events""#),
                Cause::Other,
            ),
            (
                db(
                    K::ReadOnlyTransaction,
                    "cannot execute INSERT in a read-only transaction",
                ),
                Cause::ReadOnly,
            ),
            (
                db(K::ClosedConnection, "connection closed"),
                Cause::ConnectionLost,
            ),
        ] {
            assert!(e.is_unavailable(), "{e}");
            assert_eq!(e.cause(), Some(cause), "{e}");
        }
    }
}
