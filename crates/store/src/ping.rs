//! Whether the database can do a binary's work: the readiness check of the
//! binaries that write (ingest, the worker). It answers, it is not a
//! standby or read-only, and, after writes failed for a full disk, a write
//! goes through again. The error names the cause ([`PingError::cause`]),
//! with what the server reported before, if it stopped answering since.

use std::time::Duration;

use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::cause::Cause;
use crate::health::{self, Seen};
use crate::run::{run, Access};
use crate::{Error, PgPool};

/// Why the database is not ready.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct PingError {
    /// What failed.
    pub error: Error,
    /// What the server reported before (a full disk, a shutdown), when it
    /// differs from this failure's cause: "connection refused" after a
    /// full WAL disk stopped the server.
    pub reported: Option<Seen>,
}

impl PingError {
    /// Why the database is unavailable.
    pub fn cause(&self) -> Cause {
        self.error.cause().unwrap_or(Cause::Other)
    }

    /// For a readiness answer: `error`, `cause`, and `reported` (`cause`,
    /// `error`, `seconds_ago`) when the server reported something else
    /// before.
    pub fn fields(&self) -> serde_json::Value {
        let mut f = serde_json::json!({
            "error": self.error.with_sources(),
            "cause": self.cause().as_str(),
        });
        if let Some(r) = &self.reported {
            f["reported"] = serde_json::json!({
                "cause": r.cause.as_str(),
                "error": r.error,
                "seconds_ago": (r.age_secs() * 10.0).round() / 10.0,
            });
        }
        f
    }
}

#[derive(diesel::QueryableByName)]
struct Role {
    #[diesel(sql_type = Bool)]
    standby: bool,
    #[diesel(sql_type = Text)]
    read_only: String,
}

/// Checks, on a connection of `pool` and within `limit`, that the database
/// answers and takes writes (one round trip; a second, a write that is
/// rolled back, only while the last write failed for a full disk).
pub async fn ping(pool: &PgPool, limit: Duration) -> Result<(), PingError> {
    let probe = health::now().is_some_and(|n| n.cause == Cause::DiskFull);
    let checked = run(pool, limit, "readiness check", Access::Read, async |c| {
        writable(c).await?;
        if probe {
            probe_write(c).await?;
        }
        Ok(())
    })
    .await;
    match checked {
        Ok(()) => {
            if probe {
                health::succeeded(true);
            }
            Ok(())
        }
        Err(error) => {
            let cause = error.cause();
            let reported = health::reported().filter(|r| Some(r.cause) != cause);
            Err(PingError { error, reported })
        }
    }
}

/// Fails when the server does not take writes: a hot standby, or
/// `default_transaction_read_only` on.
pub async fn writable(c: &mut AsyncPgConnection) -> Result<(), Error> {
    let r: Role = diesel::sql_query(
        "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') AS read_only",
    )
    .get_result(c)
    .await?;
    if r.standby {
        return Err(Error::NotWritable(
            "the server is a hot standby (in recovery)".into(),
        ));
    }
    if r.read_only == "on" {
        return Err(Error::NotWritable(
            "transactions are read-only (default_transaction_read_only is on)".into(),
        ));
    }
    Ok(())
}

/// A write that touches the disk and leaves nothing: a temporary table
/// gets a row (extending its file by a page) in a transaction that rolls
/// back. Fails as the server's writes do (a full disk: 53100).
pub async fn probe_write(c: &mut AsyncPgConnection) -> Result<(), Error> {
    let r = c
        .transaction::<(), Error, _>(async |c| {
            c.batch_execute(
                "CREATE TEMPORARY TABLE switchboard_write_probe (b bytea) ON COMMIT DROP; \
                 INSERT INTO switchboard_write_probe VALUES (''::bytea)",
            )
            .await?;
            Err(Error::Query(diesel::result::Error::RollbackTransaction))
        })
        .await;
    match r {
        Err(Error::Query(diesel::result::Error::RollbackTransaction)) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}
