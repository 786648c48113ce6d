//! Connections: the pool every binary uses, and single connections for
//! commands and LISTEN. Every one of them is opened here, with the URL's
//! TLS settings (`sslmode`, `sslrootcert`: see [`crate::tls`]).

use std::sync::Arc;
use std::time::Duration;

use deadpool::Runtime;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::tls::Target;
use crate::Error;

/// A pool of PostgreSQL connections.
pub type PgPool = Pool<AsyncPgConnection>;

/// What sits between the pool and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upstream {
    /// PostgreSQL itself, or a pooler in session mode: hot statements are
    /// prepared once per connection.
    #[default]
    Direct,
    /// A pooler in transaction mode (PgBouncer `pool_mode = transaction`,
    /// before 1.21 or without `max_prepared_statements`): consecutive
    /// transactions may reach different server connections, so no prepared
    /// statement outlives its transaction and no session setting is made.
    /// Every statement of ingest and the worker runs inside a transaction.
    TransactionPooler,
}

impl Upstream {
    /// [`Upstream::TransactionPooler`] when `transaction_pooler` (the
    /// binaries' `DATABASE_TRANSACTION_POOLER`), else [`Upstream::Direct`].
    pub fn when(transaction_pooler: bool) -> Upstream {
        if transaction_pooler {
            Upstream::TransactionPooler
        } else {
            Upstream::Direct
        }
    }
}

/// Builds a pool of at most `size` connections to `url`. Connections are
/// made on demand, so this succeeds while the database is down (but not
/// with unusable TLS settings: a bad `sslmode`, an unreadable
/// `sslrootcert`); `get()` then fails after `wait` instead of hanging.
pub fn pool(url: &str, size: usize, wait: Duration) -> Result<PgPool, Error> {
    pool_to(url, size, wait, Upstream::Direct)
}

/// [`pool`], for connections through `upstream`.
pub fn pool_to(
    url: &str,
    size: usize,
    wait: Duration,
    upstream: Upstream,
) -> Result<PgPool, Error> {
    let target = Arc::new(Target::parse(url)?);
    // Fast recycling: no test query per checkout (a round trip on every
    // request); a connection the server closed reports itself broken and is
    // dropped, and a failure on first use is answered like any other.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let target = target.clone();
        Box::pin(async move {
            setup(&target, upstream).await.map_err(|e| match e {
                Error::Connect(c) => c,
                other => diesel::ConnectionError::BadConnection(other.to_string()),
            })
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .build()?)
}

/// Opens one connection to `url`, set up like the pool's. Returns it.
pub async fn connect(url: &str) -> Result<AsyncPgConnection, Error> {
    setup(&Target::parse(url)?, Upstream::Direct).await
}

/// Opens a connection. Hot statements are prepared once per connection
/// (`domain::sql::Cached`) but always planned for their actual arguments:
/// a generic plan cannot see how many keys an `unnest($1)` brings and may
/// choose a sequential scan of a large table.
async fn setup(target: &Target, upstream: Upstream) -> Result<AsyncPgConnection, Error> {
    let pooler = upstream == Upstream::TransactionPooler;
    let mut conn = target.connect(pooler).await?;
    if pooler {
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        return Ok(conn);
    }
    conn.batch_execute("SET plan_cache_mode = force_custom_plan")
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}
