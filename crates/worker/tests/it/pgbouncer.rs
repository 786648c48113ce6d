//! Many containers, one database: ingest and two workers reach PostgreSQL
//! through PgBouncer in transaction mode (Debian's `pgbouncer` package,
//! started by the test with a server pool smaller than the clients' pools),
//! with `DATABASE_TRANSACTION_POOLER=true`. Every acknowledged event is
//! stored and processed exactly once, and the clients' connections shared
//! a handful of server connections.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use testkit::{post_webhook, sign_yeastar, wait_until, Counter, Stack, TestDb};
use traffic::scenario::{self, Member};

const SECRET: &str = "pgbouncer-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);
/// Server connections PgBouncer may open to the test database.
const SERVER_POOL: i64 = 3;

/// A PgBouncer on a free port in front of the test database's server,
/// stopped when dropped.
struct Bouncer {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Bouncer {
    async fn start(db_url: &str) -> Bouncer {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("pgbouncer not found: apt-get install pgbouncer (.ci/run installs it)")
            });
        let (user, password, host, pg_port) = server_of(db_url);
        let password = password
            .map(|p| format!(" password={p}"))
            .unwrap_or_default();
        let port = testkit::free_port().expect("port");
        let dir = std::env::temp_dir().join(format!("sb-pgbouncer-{port}"));
        std::fs::create_dir_all(&dir).expect("dir");
        // PgBouncer refuses to run as root: it switches to `nobody`, who
        // must read the configuration and write the log.
        set_mode(&dir, 0o777);
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n\
                 * = host={host} port={pg_port} user={user}{password} pool_size={SERVER_POOL}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = any\n\
                 pool_mode = transaction\n\
                 max_client_conn = 200\n\
                 default_pool_size = {SERVER_POOL}\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 logfile = {log}\n\
                 pidfile = {pid}\n",
                log = dir.join("pgbouncer.log").display(),
                pid = dir.join("pgbouncer.pid").display(),
            ),
        )
        .expect("ini");
        set_mode(&ini, 0o644);
        let mut cmd = tokio::process::Command::new(bin);
        if is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting pgbouncer");
        let b = Bouncer { child, port, dir };
        let url = b.url("postgres");
        wait_until(Duration::from_secs(20), "pgbouncer to answer", || {
            let url = url.clone();
            async move { Ok(store::connect(&url).await.is_ok()) }
        })
        .await
        .expect("pgbouncer up");
        b
    }

    /// The URL of `database` through this PgBouncer.
    fn url(&self, database: &str) -> String {
        format!("postgres://switchboard@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `(user, password, host, port)` of a `postgres://user[:password]@host[:port]/db` URL.
fn server_of(url: &str) -> (String, Option<String>, String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    let (auth, hostport) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_string(), Some(p.to_string())),
        None => (auth.to_string(), None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(5432)),
        None => (hostport.to_string(), 5432),
    };
    let user = if user.is_empty() {
        "postgres".into()
    } else {
        user
    };
    (user, password, host, port)
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test]
async fn ingest_and_workers_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::new().await.expect("db");
    let (url, name) = (db.url.clone(), db.name.clone());
    let bouncer = Bouncer::start(&url).await;
    let s = Stack::builder()
        .on(db)
        .via(&bouncer.url(&name))
        .env("DATABASE_TRANSACTION_POOLER", "true")
        .audit()
        .yeastar("pbx", SECRET)
        .ingest(&["--pool-size", "8"])
        .workers(2, &["--concurrency", "2"])
        .start()
        .await
        .expect("ingest and workers through pgbouncer");

    // 4 senders, 150 calls each: a ring and an answer per call.
    let mut tasks = Vec::new();
    for sender in 0..4 {
        let mut client = s.ingest().client();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for c in 0..150 {
                let call = format!("pgb-{sender}-{c}");
                let ext = format!("{}", 2000 + (sender * 150 + c) % 40);
                for status in ["RING", "ANSWER"] {
                    let body =
                        scenario::yeastar_snapshot(30011, &call, &[Member::Ext(&ext, status)]);
                    let p = post_webhook(&mut client, "pbx", &sign_yeastar(SECRET, &body))
                        .await
                        .expect("post");
                    assert_eq!(p.status, 200, "{}", p.text);
                    assert_eq!(p.json["status"], "accepted", "{}", p.text);
                    acked.push(p.id().expect("id"));
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("sender"));
    }
    assert_eq!(acked.len(), 1200);

    let c =
        s.db.wait_counts(WAIT, "every acknowledged event processed", |c| {
            c.results == 1200
        })
        .await
        .expect("processed");
    let ids = acked
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        s.db.count_where(
            Counter::Applied,
            &format!("id IN ({ids}) AND attempts = 1 AND last_error IS NULL")
        )
        .await
        .expect("n"),
        1200,
        "every acknowledged event applied once, at the first attempt"
    );
    assert_eq!(s.db.completions().await.expect("audit").total, 1200);
    assert_eq!(c.queued, 0);
    assert_eq!(c.active_calls, 600);
    // 8 ingest and 2 x 3 worker connections shared at most SERVER_POOL
    // server connections (the test's own direct one aside). The test's
    // direct connections before this one may still be ending (a backend
    // leaves pg_stat_activity a moment after its client closed: once
    // counted 4 here), so this waits for them, boundedly.
    let sql = format!(
        "SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = '{name}' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    );
    let servers = std::cell::Cell::new(0);
    let within = wait_until(Duration::from_secs(10), "at most SERVER_POOL", || async {
        servers.set(s.db.count(&sql).await?);
        Ok(servers.get() <= SERVER_POOL)
    })
    .await;
    assert!(
        within.is_ok(),
        "{} server connections for the pooled clients",
        servers.get()
    );
}
