//! The storage error: what failed, with its cause kept typed.

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
}

impl Error {
    /// Whether the database is unreachable or failing as a whole (no
    /// connection, a lost connection, a pool timeout), as opposed to a
    /// statement refused for what it was given (a constraint, a value too
    /// large for an index, bad encoding): only the first deserves a 503.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match self {
            Error::Pool(_) | Error::Connect(_) => true,
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
}

/// Server-side conditions that are the database's, not the row's: shutting
/// down, out of connections, read-only, out of disk or memory.
fn unavailable_state(message: &str) -> bool {
    const MARKERS: [&str; 6] = [
        "terminating connection",
        "the database system is",
        "too many connections",
        "read-only transaction",
        "No space left on device",
        "out of memory",
    ];
    MARKERS.iter().any(|m| message.contains(m))
}
