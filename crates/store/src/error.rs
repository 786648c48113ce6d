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
}
