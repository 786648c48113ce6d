//! Connections: the pool both binaries use, and the embedded migrations.

use std::time::Duration;

use deadpool::Runtime;
use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The project's migrations, compiled into the binaries.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The channel ingest NOTIFYs after each insert transaction and workers
/// LISTEN on: a wake-up only, with no payload.
pub const INBOX_CHANNEL: &str = "switchboard_inbox";

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
    // Fast recycling: no test query per checkout (a round trip on every
    // request); a connection the server closed reports itself broken and is
    // dropped, and a failure on first use is answered like any other.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(|url| Box::pin(connect(url.to_string())));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// Opens a connection for the pool. Hot statements are prepared once per
/// connection ([`Cached`]) but always planned for their actual arguments:
/// a generic plan cannot see how many keys an `unnest($1)` brings and may
/// choose a sequential scan of a large table.
async fn connect(url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let mut conn = AsyncPgConnection::establish(&url).await?;
    conn.batch_execute("SET plan_cache_mode = force_custom_plan")
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
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

/// A raw SQL statement (`diesel::sql_query(...).bind(...)`) that is prepared
/// once per connection and reused, like diesel's DSL queries. `sql_query` on
/// its own is never cached, and the hot statements (claim, apply, complete,
/// group-commit insert) would pay a parse and plan on every batch. Only for
/// statements whose SQL text is a constant.
#[derive(Debug, Clone)]
pub struct Cached<Q>(pub Q);

impl<Q> diesel::query_builder::QueryFragment<diesel::pg::Pg> for Cached<Q>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Cached<Q> {
    type SqlType = Q::SqlType;
}
