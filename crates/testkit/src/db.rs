//! One fresh PostgreSQL database per test, created from a migrated
//! template so that tests run in parallel; the completion audit.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// The server tests create their databases on: `TEST_DATABASE_URL`, else
/// `DATABASE_URL`, else the local default.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A hash of the migration files, naming the template database: a changed
/// migration gets a new template.
fn migrations_hash() -> Result<String> {
    let dir = workspace_root().join("migrations");
    let mut files = Vec::new();
    for entry in walk(&dir)? {
        files.push(entry);
    }
    files.sort();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for f in files {
        ctx.update(f.to_string_lossy().as_bytes());
        ctx.update(&std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?);
    }
    let d = ctx.finish();
    Ok(d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect())
}

fn walk(dir: &PathBuf) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn ensure_template(admin: &mut AsyncPgConnection, url: &str) -> Result<String> {
    let hash = migrations_hash()?;
    let tpl = format!("switchboard_tpl_{hash}");
    let lock = i64::from_str_radix(&hash, 16).unwrap_or(42);
    admin
        .batch_execute(&format!("SELECT pg_advisory_lock({lock})"))
        .await?;
    let result = async {
        let exists: Count =
            diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&tpl)
                .get_result(admin)
                .await?;
        if exists.n == 0 {
            let build = format!("{tpl}_build");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {build} WITH (FORCE)"))
                .await?;
            admin
                .batch_execute(&format!("CREATE DATABASE {build}"))
                .await?;
            store::migrate(&with_database(url, &build))
                .await
                .context("migrating the template database")?;
            admin
                .batch_execute(&format!("ALTER DATABASE {build} RENAME TO {tpl}"))
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    admin
        .batch_execute(&format!("SELECT pg_advisory_unlock({lock})"))
        .await?;
    result?;
    Ok(tpl)
}

/// The secrets key of every test (Base64 of 32 bytes): `TestDb::add_source`
/// seals with it, and the binaries testkit starts get it as
/// `SWITCHBOARD_SECRETS_KEY`. A test key, known to everyone: never use it
/// anywhere else.
pub const TEST_SECRETS_KEY: &str = "rEX+ncMDWk3gbKxOSoQgT/KDqrglO70nLxJG0AiPyWo=";

/// Another valid key, for tests of wrong keys and rotation.
pub const OTHER_SECRETS_KEY: &str = "1vg9l9gm/bezBaijS/ljGmQOU6O8CUBuP4ERa8PEip8=";

/// The keyring of [`TEST_SECRETS_KEY`] alone.
pub fn test_keyring() -> Result<store::secrets::Keyring> {
    let key = store::secrets::SecretsKey::from_base64(store::secrets::KEY_VAR, TEST_SECRETS_KEY)?;
    Ok(store::secrets::Keyring::new(key, None))
}

/// Puts [`TEST_SECRETS_KEY`] in this process's environment (and removes a
/// previous key), for the servers a test runs in process (`ingest::serve`
/// reads the key from the environment, as the binaries do).
fn export_test_key() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var(store::secrets::KEY_VAR, TEST_SECRETS_KEY);
        std::env::remove_var(store::secrets::PREVIOUS_KEY_VAR);
    });
}

/// A database of its own for one test, dropped when the value is dropped
/// (unless [`TestDb::attach`]ed to an existing one).
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// The server to drop the database on; `None` when attached.
    admin: Option<String>,
}

impl TestDb {
    /// Creates a fresh, migrated database (and exports the test secrets
    /// key into this process's environment).
    pub async fn new() -> Result<TestDb> {
        export_test_key();
        let admin_url = admin_url();
        let mut admin = AsyncPgConnection::establish(&admin_url)
            .await
            .with_context(|| {
                format!("tests need PostgreSQL at {admin_url} (set TEST_DATABASE_URL)")
            })?;
        let tpl = ensure_template(&mut admin, &admin_url).await?;
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("switchboard_test_{}_{}_{}", std::process::id(), n, nanos);
        // CREATE DATABASE ... TEMPLATE fails while another session copies
        // the same template at the same instant: retry briefly.
        let mut tries = 0;
        loop {
            match admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {tpl}"))
                .await
            {
                Ok(()) => break,
                Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("creating the test database"),
            }
        }
        Ok(TestDb {
            url: with_database(&admin_url, &name),
            name,
            admin: Some(admin_url),
        })
    }

    /// A handle on the existing database at `url` (e.g. one on a test's
    /// private server, [`crate::cluster::TempCluster`]), for the same
    /// helpers: it is not dropped with the handle.
    pub fn attach(url: &str) -> TestDb {
        let path = url.split('?').next().unwrap_or(url);
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        TestDb {
            name,
            url: url.to_string(),
            admin: None,
        }
    }

    /// A new connection to this database.
    pub async fn conn(&self) -> Result<AsyncPgConnection> {
        AsyncPgConnection::establish(&self.url)
            .await
            .context("connecting to the test database")
    }

    /// Runs one SQL statement returning a single bigint column named `n`.
    pub async fn count(&self, sql: &str) -> Result<i64> {
        let mut c = self.conn().await?;
        let r: Count = diesel::sql_query(sql)
            .get_result(&mut c)
            .await
            .with_context(|| format!("running {sql}"))?;
        Ok(r.n)
    }

    /// Runs one SQL statement (test set-up: ageing rows, disabling sources).
    pub async fn exec(&self, sql: &str) -> Result<()> {
        let mut c = self.conn().await?;
        diesel::sql_query(sql)
            .execute(&mut c)
            .await
            .with_context(|| format!("running {sql}"))?;
        Ok(())
    }

    /// The status of extension `number` of `source` (`None`: no row yet).
    pub async fn extension_status(&self, source: &str, number: &str) -> Result<Option<String>> {
        use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
        use store::schema::extensions;
        let mut c = self.conn().await?;
        extensions::table
            .filter(extensions::source.eq(source))
            .filter(extensions::number.eq(number))
            .select(extensions::status)
            .first(&mut c)
            .await
            .optional()
            .with_context(|| format!("reading extension {number} of {source}"))
    }

    /// Puts events straight into the inbox, pending, in the order given (as
    /// if ingest had stored them): `(source, dedup key, body)`.
    pub async fn insert_events(&self, events: &[(&str, String, Vec<u8>)]) -> Result<()> {
        let mut c = self.conn().await?;
        for chunk in events.chunks(5000) {
            let sources: Vec<&str> = chunk.iter().map(|e| e.0).collect();
            let keys: Vec<&str> = chunk.iter().map(|e| e.1.as_str()).collect();
            let bodies: Vec<&[u8]> = chunk.iter().map(|e| e.2.as_slice()).collect();
            diesel::sql_query(
                "WITH stored AS (
                   INSERT INTO events (source, provider, body, dedup_key)
                   SELECT s, (SELECT provider FROM sources WHERE name = s), b, k
                   FROM unnest($1::text[], $2::bytea[], $3::text[]) WITH ORDINALITY AS u(s, b, k, n)
                   ORDER BY n
                   RETURNING id, day, source, received_at)
                 INSERT INTO event_queue (id, day, source, received_at)
                 SELECT id, day, source, received_at FROM stored",
            )
            .bind::<diesel::sql_types::Array<Text>, _>(&sources)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Bytea>, _>(&bodies)
            .bind::<diesel::sql_types::Array<Text>, _>(&keys)
            .execute(&mut c)
            .await
            .context("inserting inbox events")?;
        }
        Ok(())
    }

    /// [`age_events`] on this database.
    pub async fn age_events(&self, filter: &str, days: i32, own_partition: bool) -> Result<()> {
        age_events(&self.url, filter, days, own_partition).await
    }

    /// Installs the completion audit (see [`audit_completions`]).
    pub async fn audit_completions(&self) -> Result<()> {
        audit_completions(&self.url).await
    }

    /// Creates a source with the given secrets, sealed with
    /// [`TEST_SECRETS_KEY`] by `store::sources` (their format is not
    /// checked: fixtures use short secrets such as `"s"`). Without secrets
    /// the source is created `allow_unsigned`.
    pub async fn add_source(&self, name: &str, provider: &str, secrets: &[&str]) -> Result<()> {
        let mut c = self.conn().await?;
        let provider: domain::Provider = provider.parse().map_err(anyhow::Error::msg)?;
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        store::sources::add_unvalidated(
            &mut c,
            &test_keyring()?,
            name,
            provider,
            &secrets,
            secrets.is_empty(),
        )
        .await
        .with_context(|| format!("adding source {name}"))?;
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DB").is_some() {
            eprintln!("keeping test database {}", self.url);
            return;
        }
        let Some(admin) = self.admin.clone() else {
            return;
        };
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut c) = AsyncPgConnection::establish(&admin).await {
                        let _ = c
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Installs a trigger that records every result stored for an event in
/// `completion_audit` (a second result for the same event is refused by
/// `event_results`' primary key, and would fail its batch): proof that
/// each event is completed exactly once.
pub async fn audit_completions(url: &str) -> Result<()> {
    let mut c = AsyncPgConnection::establish(url).await?;
    c.batch_execute(
        "CREATE TABLE completion_audit (event_id bigint NOT NULL,
                                        at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE FUNCTION audit_completion() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT 1 FROM completion_audit WHERE event_id = NEW.id) THEN
             RAISE EXCEPTION 'event % processed twice', NEW.id;
           END IF;
           INSERT INTO completion_audit (event_id) VALUES (NEW.id);
           RETURN NEW;
         END $$;
         CREATE TRIGGER audit_completion AFTER INSERT ON event_results
           FOR EACH ROW EXECUTE FUNCTION audit_completion();",
    )
    .await
    .context("installing the completion audit")?;
    Ok(())
}

/// Moves the events matching `filter` (SQL on `events`, e.g.
/// `dedup_key IN ('a', 'b')`) and their queue and result rows `days`
/// days into the past, as if received then; with `own_partition`, into
/// a partition of their own for that day (created first), else into the
/// default partition (no partition exists for that day).
pub async fn age_events(url: &str, filter: &str, days: i32, own_partition: bool) -> Result<()> {
    let today = "(now() AT TIME ZONE 'UTC')::date";
    let mut sql = String::new();
    if own_partition {
        sql.push_str(&format!(
            "SELECT switchboard_ensure_partitions({today} - {days}, {today} - {days});"
        ));
    }
    sql.push_str(&format!(
        "CREATE TEMP TABLE aged AS SELECT id FROM events WHERE {filter};
         UPDATE event_results SET day = {today} - {days},
                processed_at = processed_at - make_interval(days => {days})
          WHERE id IN (SELECT id FROM aged);
         UPDATE event_queue SET day = {today} - {days},
                received_at = received_at - make_interval(days => {days}),
                dead_at = dead_at - make_interval(days => {days})
          WHERE id IN (SELECT id FROM aged);
         UPDATE events SET day = {today} - {days},
                received_at = received_at - make_interval(days => {days})
          WHERE id IN (SELECT id FROM aged);
         DROP TABLE aged;"
    ));
    let mut c = store::connect(url).await.context("connecting")?;
    c.batch_execute(&sql)
        .await
        .with_context(|| format!("ageing events {filter}"))?;
    Ok(())
}
