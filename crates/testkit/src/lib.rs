//! Test support: one fresh PostgreSQL database per test, created from a
//! migrated template so that tests run in parallel; the real binaries
//! started on free ports; fixtures; bounded waits.

pub mod cluster;
pub mod plan;
pub mod reference;
pub mod snapshot;

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::process::{Child, Command};

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

/// A database of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin: String,
}

impl TestDb {
    /// Creates a fresh, migrated database.
    pub async fn new() -> Result<TestDb> {
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
            admin: admin_url,
        })
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

    /// Puts events straight into the inbox, pending, in the order given (as
    /// if ingest had stored them): `(source, dedup key, body)`.
    pub async fn insert_events(&self, events: &[(&str, String, Vec<u8>)]) -> Result<()> {
        let mut c = self.conn().await?;
        for chunk in events.chunks(5000) {
            let sources: Vec<&str> = chunk.iter().map(|e| e.0).collect();
            let keys: Vec<&str> = chunk.iter().map(|e| e.1.as_str()).collect();
            let bodies: Vec<&[u8]> = chunk.iter().map(|e| e.2.as_slice()).collect();
            diesel::sql_query(
                "INSERT INTO webhook_events (source, provider, body, dedup_key)
                 SELECT s, (SELECT provider FROM sources WHERE name = s), b, k
                 FROM unnest($1::text[], $2::bytea[], $3::text[]) AS u(s, b, k)",
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

    /// Installs the completion audit (see [`audit_completions`]).
    pub async fn audit_completions(&self) -> Result<()> {
        audit_completions(&self.url).await
    }

    /// Creates a source with the given secrets.
    pub async fn add_source(&self, name: &str, provider: &str, secrets: &[&str]) -> Result<()> {
        let mut c = self.conn().await?;
        diesel::sql_query("INSERT INTO sources (name, provider) VALUES ($1, $2)")
            .bind::<Text, _>(name)
            .bind::<Text, _>(provider)
            .execute(&mut c)
            .await?;
        for s in secrets {
            diesel::sql_query("INSERT INTO source_secrets (source, secret) VALUES ($1, $2)")
                .bind::<Text, _>(name)
                .bind::<Text, _>(*s)
                .execute(&mut c)
                .await?;
        }
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DB").is_some() {
            eprintln!("keeping test database {}", self.url);
            return;
        }
        let admin = self.admin.clone();
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

/// Installs a trigger that records every pending -> processed transition
/// of an inbox row in `completion_audit`, and refuses (raises) a second
/// one: proof that each event is completed exactly once.
pub async fn audit_completions(url: &str) -> Result<()> {
    let mut c = AsyncPgConnection::establish(url).await?;
    c.batch_execute(
        "CREATE TABLE completion_audit (event_id bigint NOT NULL,
                                        at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE FUNCTION audit_completion() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF OLD.processed_at IS NOT NULL
              AND NEW.processed_at IS DISTINCT FROM OLD.processed_at THEN
             RAISE EXCEPTION 'event % processed twice', NEW.id;
           END IF;
           IF OLD.processed_at IS NULL AND NEW.processed_at IS NOT NULL THEN
             INSERT INTO completion_audit (event_id) VALUES (NEW.id);
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER audit_completion BEFORE UPDATE ON webhook_events
           FOR EACH ROW EXECUTE FUNCTION audit_completion();",
    )
    .await
    .context("installing the completion audit")?;
    Ok(())
}

/// Waits until `check` returns `Ok(true)`, polling every 20 ms, for at most
/// `limit`. Returns an error naming `what` on timeout.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + limit;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            match last_err {
                Some(e) => bail!("timed out after {limit:?} waiting for {what}: last error {e:#}"),
                None => bail!("timed out after {limit:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bytes of the sample payload at `rel` (e.g.
/// `"yeastar/30011-inbound-ringing.json"`) under [`fixtures_dir`].
///
/// Test support: panics, naming the path, when the file cannot be read.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = fixtures_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// This crate's own sample payloads, `crates/testkit/fixtures`: `yeastar/`
/// bodies as sent before signing and `dialpad/` JWT claims, composed from
/// the providers' published formats with invented values (see the README
/// there). The tests need nothing outside the repository.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The path of a workspace binary (`ingest`, `worker`, `traffic`), built
/// beside the test executable.
pub fn bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("test executable has no target directory")?;
    let p = dir.join(name);
    if !p.exists() {
        bail!(
            "binary {} not found: build it first (cargo build --workspace --bins)",
            p.display()
        );
    }
    Ok(p)
}

/// A free TCP port on loopback.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A running binary, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Sends SIGTERM and waits (at most `limit`) for the exit status code.
    pub async fn terminate(&mut self, limit: Duration) -> Result<Option<i32>> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .with_context(|| format!("{} did not exit within {limit:?} of SIGTERM", self.name))??;
        Ok(status.code())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Starts `name` with `args` and `envs` (stdout and stderr inherited, so
/// that a failing test shows the binary's logs).
pub fn spawn(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<Proc> {
    let mut cmd = Command::new(bin(name)?);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    Ok(Proc {
        child,
        name: name.to_string(),
    })
}

/// A running `ingest` on a free port.
pub struct Ingest {
    pub proc: Proc,
    pub port: u16,
}

impl Ingest {
    /// Starts ingest against `db_url` with extra flags and waits until its
    /// `/healthz` answers (at most 20 s).
    pub async fn start(db_url: &str, extra: &[&str]) -> Result<Ingest> {
        let port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec!["--bind", &bind, "--workers", "2"];
        args.extend_from_slice(extra);
        let proc = spawn("ingest", &args, &[("DATABASE_URL", db_url)])?;
        let ingest = Ingest { proc, port };
        wait_until(Duration::from_secs(20), "ingest /healthz", || async {
            let mut c = traffic::Client::new(ingest.authority(), Duration::from_secs(1));
            Ok(c.request("GET", "/healthz", &[], b"")
                .await
                .is_ok_and(|r| r.status == 200))
        })
        .await?;
        Ok(ingest)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client for this ingest.
    pub fn client(&self) -> traffic::Client {
        traffic::Client::new(self.authority(), Duration::from_secs(10))
    }
}

/// Runs a `worker` subcommand against `db_url` to completion. Returns its
/// exit code, stdout and stderr.
pub async fn worker_cli(db_url: &str, args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(bin("worker")?)
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .with_context(|| format!("running worker {args:?}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs a `worker` subcommand that must succeed. Returns its stdout.
pub async fn worker_ok(db_url: &str, args: &[&str]) -> Result<String> {
    let (code, out, err) = worker_cli(db_url, args).await?;
    if code != 0 {
        bail!("worker {args:?} exited {code}: {err}");
    }
    Ok(out)
}

/// Starts `worker run` against `db_url` with extra flags.
pub fn start_worker(db_url: &str, extra: &[&str]) -> Result<Proc> {
    let mut args = vec!["run", "--poll-interval", "20ms"];
    args.extend_from_slice(extra);
    spawn("worker", &args, &[("DATABASE_URL", db_url)])
}
