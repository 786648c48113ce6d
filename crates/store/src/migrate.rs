//! The embedded migrations, applied under an advisory lock.

use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::Error;

/// The project's migrations, compiled into the binaries.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// A digest of the migration files this library was compiled with (build.rs):
/// reading it here makes a changed migration recompile the library, so the
/// embedded migrations are never older than the files.
pub const MIGRATIONS_DIGEST: &str = env!("SWITCHBOARD_MIGRATIONS_DIGEST");

/// Advisory lock key held while migrating, so that concurrent `migrate`
/// runs (a Job and a developer, two test processes) apply each migration once.
const MIGRATION_LOCK: i64 = 0x5357_4254_4d49_4752; // "SWBTMIGR"

/// Applies pending migrations to the database at `url` (over TLS when the
/// URL asks for it, like every connection: [`crate::connect`]). Returns the
/// versions applied (empty when up to date).
pub async fn migrate(url: &str) -> Result<Vec<String>, Error> {
    let conn = crate::connect(url).await?;
    // The harness is synchronous: run it on a blocking thread, driving the
    // connection (whose I/O task stays on this runtime) through the wrapper.
    tokio::task::spawn_blocking(move || migrate_blocking(AsyncConnectionWrapper::from(conn)))
        .await
        .map_err(|e| Error::Migration(Box::new(e)))?
}

/// How often a `migrate` waiting for another one tries the lock again.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Takes the migration lock, trying again every [`LOCK_POLL`] while another
/// `migrate` holds it. Never waits inside a statement: a session blocked in
/// `pg_advisory_lock` holds a snapshot, which a `CREATE INDEX
/// CONCURRENTLY` of the running migration would wait for, each waiting on
/// the other.
fn lock(conn: &mut AsyncConnectionWrapper<AsyncPgConnection>) -> Result<(), Error> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    loop {
        let got: Locked = diesel::sql_query(format!(
            "SELECT pg_try_advisory_lock({MIGRATION_LOCK}) AS locked"
        ))
        .get_result(conn)?;
        if got.locked {
            return Ok(());
        }
        std::thread::sleep(LOCK_POLL);
    }
}

fn migrate_blocking(
    mut conn: AsyncConnectionWrapper<AsyncPgConnection>,
) -> Result<Vec<String>, Error> {
    lock(&mut conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .map_err(Error::Migration);
    let unlock = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let applied = result?;
    unlock?;
    Ok(applied)
}

/// Returns the versions of the migrations compiled into this binary that
/// the database at the other end of `conn` has not applied (empty when its
/// schema is this binary's, or newer). Reads only
/// `__diesel_schema_migrations.version` (every service role may: see
/// `deploy/roles.sql`); a database never migrated lacks every version.
pub async fn missing_migrations(conn: &mut AsyncPgConnection) -> Result<Vec<String>, Error> {
    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    // A database never migrated has no such table: nothing applied.
    let applied: Vec<Applied> = diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
        .load(conn)
        .await
        .or_else(|e| match e {
            diesel::result::Error::DatabaseError(_, ref info)
                if info.message().contains("does not exist") =>
            {
                Ok(Vec::new())
            }
            e => Err(e),
        })?;
    let known = MigrationSource::<Pg>::migrations(&MIGRATIONS).map_err(Error::Migration)?;
    Ok(known
        .iter()
        .map(|m| m.name().version().to_string())
        .filter(|v| !applied.iter().any(|a| &a.version == v))
        .collect())
}
