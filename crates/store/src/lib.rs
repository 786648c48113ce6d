//! Switchboard's PostgreSQL storage: the connection pool, the embedded
//! migrations, and the one home of every statement on the inbox
//! (`webhook_events`) and on sources. Ingest and the worker call it; neither
//! writes inbox SQL of its own. Board users and their password hashes are
//! in `users`; sessions, the login rate limit and API tokens in `access`;
//! the phone systems' API settings and the audit of actions on calls in
//! `apis`; the leg and the per-call lock the board's hang-up reads and takes
//! in `calls`; the operators' side of the missed calls list (marking an
//! entry done, its audit) in `missed`; per-queue settings in `queues`. The
//! call, queue, agent, extension and missed call projections are the
//! domain's (`domain::projection`). Connections reach one of the URL's hosts
//! within deadlines (`dial`), operations run under one (`run`), and failures
//! are sorted by [`Cause`] and remembered for operators (`health`).

mod cause;
mod dial;
mod error;
mod migrate;
mod ping;
mod pool;
mod run;
mod tls;

pub mod access;
pub mod apis;
pub mod calls;
pub mod changes;
pub mod console;
pub mod events_out;
pub mod health;
pub mod inbox;
pub mod listen;
pub mod missed;
pub mod queues;
pub mod retry;
pub mod schema;
pub mod secrets;
pub mod sources;
pub mod users;

pub use cause::{classify, Cause, CAUSES};
pub use dial::{
    CONNECT_TIMEOUT, KEEPALIVES_IDLE, KEEPALIVES_INTERVAL, KEEPALIVES_RETRIES, TCP_USER_TIMEOUT,
};
pub use error::Error;
pub use migrate::{migrate, missing_migrations, MIGRATIONS, MIGRATIONS_DIGEST};
pub use ping::{ping, probe_write, writable, PingError};
pub use pool::{
    connect, pool, pool_to, pool_with, Deadlines, PgPool, PoolConfig, Upstream, ANSWER_MARGIN,
};
pub use run::{discard, run, Access};
pub use tls::{SslMode, TlsError};
