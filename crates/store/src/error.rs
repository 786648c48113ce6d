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
    /// refusing writes), as opposed to a statement refused for what it was
    /// given (a constraint, a value too large for an index, bad encoding):
    /// only the first deserves a 503.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match self {
            Error::Pool(_) | Error::Connect(_) | Error::Deadline { .. } | Error::NotWritable(_) => {
                true
            }
            Error::Query(D::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::ReadOnlyTransaction
                | DatabaseErrorKind::SerializationFailure,
                _,
            )) => true,
            Error::Query(D::DatabaseError(_, info)) => unavailable_state(info.message()),
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

/// Server-side conditions that are the database's, not the row's: shutting
/// down, out of connections, read-only, out of disk or memory, a timeout.
fn unavailable_state(message: &str) -> bool {
    const MARKERS: [&str; 2] = ["terminating connection", "the database system is"];
    MARKERS.iter().any(|m| message.contains(m)) || classify(None, message) != Cause::Other
}
