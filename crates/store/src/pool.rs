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
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use crate::tls::Target;
use crate::Error;

/// A pool of PostgreSQL connections.
pub type PgPool = Pool<AsyncPgConnection>;

/// Builds a pool of at most `size` connections to `url`. Connections are
/// made on demand, so this succeeds while the database is down (but not
/// with unusable TLS settings: a bad `sslmode`, an unreadable
/// `sslrootcert`); `get()` then fails after `wait` instead of hanging.
pub fn pool(url: &str, size: usize, wait: Duration) -> Result<PgPool, Error> {
    let target = Arc::new(Target::parse(url)?);
    // Fast recycling: no test query per checkout (a round trip on every
    // request); a connection the server closed reports itself broken and is
    // dropped, and a failure on first use is answered like any other.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let target = target.clone();
        Box::pin(async move {
            setup(&target).await.map_err(|e| match e {
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
    setup(&Target::parse(url)?).await
}

/// Opens a connection. Hot statements are prepared once per connection
/// (`domain::sql::Cached`) but always planned for their actual arguments:
/// a generic plan cannot see how many keys an `unnest($1)` brings and may
/// choose a sequential scan of a large table.
async fn setup(target: &Target) -> Result<AsyncPgConnection, Error> {
    let mut conn = target.connect().await?;
    conn.batch_execute("SET plan_cache_mode = force_custom_plan")
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}
