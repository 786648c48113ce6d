//! Connections: the pool every binary uses, and single connections for
//! commands and LISTEN. Every one of them is opened here, with the URL's
//! TLS settings (`sslmode`, `sslrootcert`: see [`crate::tls`]) and hosts
//! (each tried within the connect deadline: see [`crate::dial`]).
//!
//! Pooled connections carry the binary's deadlines ([`Deadlines`]): the
//! server ends a statement, a lock wait or an idle transaction that runs
//! over, and the client gives up a connection whose server leaves a
//! request unanswered longer than the statement timeout and a margin.

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

/// The time limits of a pool's sessions (`DATABASE_STATEMENT_TIMEOUT`):
/// see docs/operations.md (*Deadlines*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `statement_timeout`: the server cancels a longer statement.
    pub statement: Duration,
}

/// How much longer than the statement timeout the client waits for an
/// answer before it gives the connection up (the server's own timeout
/// fires first when the server is there).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(5);

impl Deadlines {
    /// The statement timeout of the binaries by default.
    pub const DEFAULT_STATEMENT: Duration = Duration::from_secs(10);

    /// `lock_timeout`: half the statement timeout, so that a lock wait
    /// fails with its own error before the statement's.
    pub fn lock(&self) -> Duration {
        self.statement / 2
    }

    /// `idle_in_transaction_session_timeout`: twice the statement timeout.
    /// The binaries never pause inside a transaction; a session that does
    /// lost its client, and its locks (events claimed) are released.
    pub fn idle_in_transaction(&self) -> Duration {
        self.statement * 2
    }

    /// How long the client waits for any answer to a request.
    pub fn answer(&self) -> Duration {
        self.statement + ANSWER_MARGIN
    }

    /// The `SET`s that put them in place on a session.
    fn sql(&self) -> String {
        format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; \
             SET idle_in_transaction_session_timeout = {}",
            self.statement.as_millis().max(1),
            self.lock().as_millis().max(1),
            self.idle_in_transaction().as_millis().max(1)
        )
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            statement: Deadlines::DEFAULT_STATEMENT,
        }
    }
}

/// A pool's settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Connections at most.
    pub size: usize,
    /// Longest wait for a free connection.
    pub wait: Duration,
    /// What sits between the pool and PostgreSQL.
    pub upstream: Upstream,
    /// The sessions' time limits.
    pub deadlines: Deadlines,
}

impl PoolConfig {
    /// `size` connections, waiting at most `wait` for one, directly to
    /// PostgreSQL, with the default deadlines.
    pub fn new(size: usize, wait: Duration) -> PoolConfig {
        PoolConfig {
            size,
            wait,
            upstream: Upstream::Direct,
            deadlines: Deadlines::default(),
        }
    }
}

/// Builds a pool of at most `size` connections to `url`. Connections are
/// made on demand, so this succeeds while the database is down (but not
/// with unusable TLS settings: a bad `sslmode`, an unreadable
/// `sslrootcert`); `get()` then fails after `wait` instead of hanging.
pub fn pool(url: &str, size: usize, wait: Duration) -> Result<PgPool, Error> {
    pool_with(url, PoolConfig::new(size, wait))
}

/// [`pool`], for connections through `upstream`.
pub fn pool_to(
    url: &str,
    size: usize,
    wait: Duration,
    upstream: Upstream,
) -> Result<PgPool, Error> {
    pool_with(
        url,
        PoolConfig {
            upstream,
            ..PoolConfig::new(size, wait)
        },
    )
}

/// A pool of connections to `url` set up by `cfg`. Making a connection may
/// take each host's connect deadline in turn, so the pool allows that much
/// (at least `cfg.wait`).
pub fn pool_with(url: &str, cfg: PoolConfig) -> Result<PgPool, Error> {
    let PoolConfig {
        size,
        wait,
        upstream,
        deadlines,
    } = cfg;
    let target = Arc::new(Target::parse(url)?);
    let create =
        (target.connect_timeout() * target.hosts() as u32 + Duration::from_secs(1)).max(wait);
    // Fast recycling: no test query per checkout (a round trip on every
    // request); a connection the server closed reports itself broken and is
    // dropped, and a failure on first use is answered like any other.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let target = target.clone();
        Box::pin(async move {
            setup(&target, upstream, Some(deadlines))
                .await
                .map_err(|e| match e {
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
        .create_timeout(Some(create))
        .recycle_timeout(Some(wait))
        .build()?)
}

/// Opens one connection to `url`, set up like the pool's but without
/// statement deadlines (for commands that may run long: migrations, a
/// prune, LISTEN). Returns it.
pub async fn connect(url: &str) -> Result<AsyncPgConnection, Error> {
    connect_to(&Target::parse(url)?).await
}

/// [`connect`] to a target parsed once (LISTEN reconnects: the host that
/// accepted last is tried first).
pub(crate) async fn connect_to(target: &Target) -> Result<AsyncPgConnection, Error> {
    setup(target, Upstream::Direct, None).await
}

/// Opens a connection. Hot statements are prepared once per connection
/// (`domain::sql::Cached`) but always planned for their actual arguments:
/// a generic plan cannot see how many keys an `unnest($1)` brings and may
/// choose a sequential scan of a large table. With `deadlines`, the session
/// gets them (not behind a transaction pooler, where a `SET` would outlive
/// the transaction on a server connection others share: set them on the
/// role there, see docs/deployment.md), and the client gives up a request
/// left unanswered. JIT is off: every statement here is short, and the
/// cost estimates of tables that grew (a claim over a day's deliveries)
/// crossed `jit_above_cost` and made PostgreSQL compile a 1 ms claim for
/// 70-110 ms on every call.
async fn setup(
    target: &Target,
    upstream: Upstream,
    deadlines: Option<Deadlines>,
) -> Result<AsyncPgConnection, Error> {
    let pooler = upstream == Upstream::TransactionPooler;
    let answer = deadlines.map(|d| d.answer());
    let mut conn = target.connect(pooler, answer).await?;
    if pooler {
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        return Ok(conn);
    }
    let mut sql = String::from("SET plan_cache_mode = force_custom_plan; SET jit = off");
    if let Some(d) = deadlines {
        sql.push_str("; ");
        sql.push_str(&d.sql());
    }
    conn.batch_execute(&sql)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_statement_timeout() {
        let d = Deadlines::default();
        assert_eq!(d.statement, Duration::from_secs(10));
        assert_eq!(d.lock(), Duration::from_secs(5));
        assert_eq!(d.idle_in_transaction(), Duration::from_secs(20));
        assert_eq!(d.answer(), Duration::from_secs(15));
        assert_eq!(
            d.sql(),
            "SET statement_timeout = 10000; SET lock_timeout = 5000; \
             SET idle_in_transaction_session_timeout = 20000"
        );
    }
}
