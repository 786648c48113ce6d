//! Connections: the pool both binaries use, and the embedded migrations.

use std::time::Duration;

use deadpool::Runtime;
use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The project's migrations, compiled into the binaries.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// A pool of PostgreSQL connections.
pub type PgPool = Pool<AsyncPgConnection>;

/// Advisory lock key held while migrating, so that concurrent `migrate`
/// runs (a Job and a developer, two test processes) apply each migration once.
const MIGRATION_LOCK: i64 = 0x5357_4254_4d49_4752; // "SWBTMIGR"

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Builds a pool of at most `size` connections to `url`. Connections are
/// made on demand, so this succeeds while the database is down; `get()`
/// then fails after `wait` instead of hanging.
pub fn pool(url: &str, size: usize, wait: Duration) -> Result<PgPool, DbError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// Applies pending migrations to the database at `url`, under an advisory
/// lock. Returns the versions applied (empty when up to date). Blocking:
/// call it from `spawn_blocking` (see [`migrate`]).
pub fn migrate_blocking(url: &str) -> Result<Vec<String>, DbError> {
    use diesel::Connection;
    let mut conn: AsyncConnectionWrapper<AsyncPgConnection> =
        AsyncConnectionWrapper::establish(url)?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .map_err(|e| DbError::Migration(e.to_string()));
    let unlock = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let applied = result?;
    unlock?;
    Ok(applied)
}

/// Applies pending migrations from async code. Returns the versions applied.
pub async fn migrate(url: &str) -> Result<Vec<String>, DbError> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || migrate_blocking(&url))
        .await
        .map_err(|e| DbError::Migration(format!("migration task failed: {e}")))?
}
