//! Least privilege: `deploy/roles.sql` applied to a fresh database on a
//! private server; the real `ingest`, `worker` and `board` run with their own roles
//! (password and TLS only, `sslmode=verify-full`) and do their whole job,
//! and each role is refused what it has no business doing.

use std::path::PathBuf;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::Value;
use testkit::cluster::{ClusterConfig, TempCluster, TestPki};
use testkit::{wait_until, Board, Ingest};
use traffic::scenario;

const INGEST_PASSWORD: &str = "ingest-pw-0123456789";
const WORKER_PASSWORD: &str = "worker-pw-0123456789";
const BOARD_PASSWORD: &str = "board-pw-0123456789";
const SECRET: &str = "roles-test-yeastar-secret-0123456789";
const WAIT: Duration = Duration::from_secs(30);

fn roles_sql() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/roles.sql")
        .display()
        .to_string()
}

struct Server {
    cluster: TempCluster,
    ca: String,
}

impl Server {
    /// A role's URL: by the certificate's name, verified, with a password.
    fn url(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{password}@localhost:{}/switchboard?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
            self.cluster.port, self.ca
        )
    }

    /// The migration owner's URL (the superuser here, trusted on loopback).
    fn owner(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/switchboard",
            self.cluster.port
        )
    }

    fn apply_roles(&self, extra: &[&str]) -> anyhow::Result<String> {
        let ingest = format!("ingest_password={INGEST_PASSWORD}");
        let worker = format!("worker_password={WORKER_PASSWORD}");
        let board = format!("board_password={BOARD_PASSWORD}");
        let file = roles_sql();
        let mut args = vec!["-v", &ingest, "-v", &worker, "-v", &board];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-f", &file]);
        self.cluster.psql("switchboard", &args)
    }
}

async fn start() -> Server {
    let pki = TestPki::new("roles test CA").expect("CA");
    let cluster = TempCluster::start_with(ClusterConfig {
        tls: Some(pki.server(&["localhost"]).expect("server certificate")),
        hba: vec![
            // The application roles: over TLS and with their password only.
            "hostnossl all switchboard_ingest,switchboard_worker,switchboard_board all reject".into(),
            "hostssl all switchboard_ingest,switchboard_worker,switchboard_board 127.0.0.1/32 scram-sha-256".into(),
        ],
        ..ClusterConfig::default()
    })
    .expect("server");
    cluster.create_db("switchboard").expect("database");
    let ca = cluster
        .write_file("ca.pem", &pki.ca_pem)
        .expect("CA file")
        .display()
        .to_string();
    Server { cluster, ca }
}

/// Runs `sql` as the role of `url`. Returns the error text (empty: allowed).
async fn attempt(url: &str, sql: &str) -> String {
    let mut c = store::connect(url).await.expect("connect");
    match diesel::sql_query(sql).execute(&mut c).await {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

async fn denied(url: &str, sql: &str) {
    let e = attempt(url, sql).await;
    assert!(
        e.contains("permission denied") || e.contains("must be owner"),
        "{sql}: expected permission denied, got {e:?}"
    );
}

async fn allowed(url: &str, sql: &str) {
    let e = attempt(url, sql).await;
    assert!(e.is_empty(), "{sql}: {e}");
}

/// Posts a signed Yeastar body. Returns the event id and whether ingest
/// answered "duplicate".
async fn post(ingest: &Ingest, body: &[u8]) -> (i64, bool) {
    let req = scenario::sign_yeastar(SECRET, body);
    let mut client = ingest.client();
    let r = client
        .request("POST", "/webhooks/pbx", &req.headers, &req.body)
        .await
        .expect("post");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).expect("json");
    (
        v["id"].as_i64().expect("id"),
        v["status"].as_str() == Some("duplicate"),
    )
}

async fn count(url: &str, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = store::connect(url).await.expect("connect");
    let r: N = diesel::sql_query(sql)
        .get_result(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.n
}

#[tokio::test]
async fn ingest_and_worker_roles_run_the_binaries_and_nothing_more() {
    let s = start().await;
    let owner = s.owner();
    testkit::worker_ok(&owner, &["migrate"])
        .await
        .expect("migrate as the owner");

    // roles.sql refuses to run without the passwords ...
    let e = s
        .cluster
        .psql("switchboard", &["-f", &roles_sql()])
        .expect_err("passwords required");
    assert!(e.to_string().contains("ingest_password"), "{e}");
    // ... and is idempotent.
    s.apply_roles(&[]).expect("roles.sql");
    s.apply_roles(&[]).expect("roles.sql again");

    let ingest_url = s.url("switchboard_ingest", INGEST_PASSWORD);
    let worker_url = s.url("switchboard_worker", WORKER_PASSWORD);
    let e = store::connect(&s.url("switchboard_ingest", "wrong"))
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );

    // Each role may read which migrations are applied (`worker wait-schema`,
    // the first step of every pod on Kubernetes), and nothing else there.
    for url in [
        &ingest_url,
        &worker_url,
        &s.url("switchboard_board", BOARD_PASSWORD),
    ] {
        testkit::worker_ok(url, &["wait-schema", "--timeout", "5s"])
            .await
            .expect("wait-schema as a service role");
        denied(url, "SELECT run_on FROM __diesel_schema_migrations").await;
    }

    // The worker role administers sources.
    testkit::worker_ok_stdin(
        &worker_url,
        &["source", "add", "pbx", "--provider", "yeastar"],
        &format!("{SECRET}\n"),
    )
    .await
    .expect("source add as the worker role");
    testkit::worker_ok(&worker_url, &["source", "list"])
        .await
        .expect("source list");

    // Ingest stores, deduplicates and (Yeastar, after the window) retires.
    let ingest = Ingest::start(&ingest_url, &["--yeastar-dedup-window", "1s"])
        .await
        .expect("ingest with its role");
    let steps = scenario::yeastar_inbound("1800000000.9", "+15555550100", "2002");
    let (first, dup) = post(&ingest, &steps[0].body).await;
    assert!(!dup);
    assert_eq!(post(&ingest, &steps[0].body).await, (first, true));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (again, dup) = post(&ingest, &steps[0].body).await;
    assert!(!dup && again != first, "after the window: a new event");
    wait_until(WAIT, "last_received_at stamped by ingest", || async {
        Ok(count(
            &owner,
            "SELECT count(*) AS n FROM sources WHERE last_received_at IS NOT NULL",
        )
        .await
            == 1)
    })
    .await
    .expect("stamped");

    // The worker role processes them (process --once) ...
    let out = testkit::worker_ok(&worker_url, &["process", "--once"])
        .await
        .expect("process --once as the worker role");
    assert!(out.contains("processed 2 event(s): 2 applied"), "{out}");
    // ... and keeps processing with LISTEN (worker run).
    let _worker = testkit::spawn(
        "worker",
        &["run", "--poll-interval", "10m"],
        &[("DATABASE_URL", &worker_url)],
    )
    .expect("worker run");
    wait_until(WAIT, "the worker to LISTEN", || async {
        Ok(count(
            &owner,
            "SELECT count(*) AS n FROM pg_stat_activity
              WHERE usename = 'switchboard_worker' AND query LIKE 'LISTEN%'",
        )
        .await
            > 0)
    })
    .await
    .expect("listening");
    let (answered, _) = post(&ingest, &steps[1].body).await;
    wait_until(WAIT, "the answered event processed", || async {
        Ok(count(
            &owner,
            &format!(
                "SELECT count(*) AS n FROM webhook_events WHERE id = {answered} AND processed_at IS NOT NULL"
            ),
        )
        .await
            == 1)
    })
    .await
    .expect("processed by worker run");
    assert_eq!(
        count(
            &owner,
            "SELECT count(*) AS n FROM calls WHERE status = 'active'"
        )
        .await,
        1
    );

    // The operator commands work with the worker role. The events are
    // aged into a day of their own, so that prune drops it whole.
    testkit::age_events(&owner, "true", 40, true)
        .await
        .expect("age the events");
    // A partition made after deploy/roles.sql (its default privileges grant
    // the worker's role on new tables) is reachable through its parent only.
    let old_day = format!(
        "events_p{}",
        (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y%m%d")
    );
    denied(
        &worker_url,
        &format!("INSERT INTO {old_day} (id, day, source, body, dedup_key) VALUES (1, current_date - 40, 'pbx', '', 'k')"),
    )
    .await;
    denied(&worker_url, &format!("SELECT * FROM {old_day}")).await;
    for args in [
        &["stats"][..],
        &["wait-idle", "--timeout", "10s"],
        &["board"],
        &["replay", "--all"],
        &["prune", "--older-than", "30d", "--include-dead"],
    ] {
        testkit::worker_ok(&worker_url, args)
            .await
            .unwrap_or_else(|e| panic!("worker {args:?} as the worker role: {e}"));
    }
    assert_eq!(
        count(&owner, "SELECT count(*) AS n FROM webhook_events").await,
        0,
        "pruned"
    );

    // Every connection of the two roles was encrypted.
    assert_eq!(
        count(
            &owner,
            "SELECT count(*) AS n FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.usename IN ('switchboard_ingest', 'switchboard_worker', 'switchboard_board') AND NOT s.ssl",
        )
        .await,
        0
    );

    // Ingest may not read bodies, change or delete the inbox, touch the
    // projections, change sources or create anything.
    for sql in [
        "DELETE FROM events",
        "DELETE FROM event_queue",
        "INSERT INTO event_results (id, day, processed_at, outcome, attempts) VALUES (1, current_date, now(), 'applied', 1)",
        "SELECT body FROM events",
        "SELECT * FROM webhook_events",
        "TRUNCATE events",
        "SELECT switchboard_prune('0s', true)",
        "UPDATE calls SET status = 'ended'",
        "SELECT * FROM calls",
        "INSERT INTO extensions (source, number) VALUES ('pbx', '1')",
        "UPDATE sources SET enabled = false",
        "INSERT INTO source_secrets (source, secret) VALUES ('pbx', 'x')",
        "CREATE TABLE mine (x int)",
    ] {
        denied(&ingest_url, sql).await;
    }
    allowed(&ingest_url, "SELECT id, source, dedup_key FROM events").await;
    allowed(&ingest_url, "NOTIFY switchboard_inbox").await;

    // The board role: the worker role manages its users and tokens; the
    // board follows the change feed, logs people in (sessions, the login
    // limit) and serves tokens, and may change nothing else.
    testkit::worker_ok_stdin(
        &worker_url,
        &["user", "add", "olivia", "--role", "operator"],
        "operator password 1\n",
    )
    .await
    .expect("user add as the worker role");
    let token = testkit::worker_ok(&worker_url, &["token", "add", "crm"])
        .await
        .expect("token add as the worker role");
    let board_url = s.url("switchboard_board", BOARD_PASSWORD);
    let board = Board::start(&board_url, &[])
        .await
        .expect("board with its role");
    let mut web = traffic::Client::new(format!("127.0.0.1:{}", board.port), WAIT);
    let origin = [("Origin".to_string(), board.url())];
    let form = |pw: &str| format!("username=olivia&password={pw}");
    let mut login_headers = origin.to_vec();
    login_headers.push((
        "Content-Type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    let r = web
        .request(
            "POST",
            "/login",
            &login_headers,
            form("wrong+password+1").as_bytes(),
        )
        .await
        .expect("login");
    assert_eq!(r.status, 401, "a wrong password, recorded: {}", r.text());
    let r = web
        .request(
            "POST",
            "/login",
            &login_headers,
            form("operator+password+1").as_bytes(),
        )
        .await
        .expect("login");
    assert_eq!(r.status, 303, "logged in: {}", r.text());
    let bearer = [(
        "Authorization".to_string(),
        format!("Bearer {}", token.trim()),
    )];
    let r = web
        .request("GET", "/api/extensions", &bearer, b"")
        .await
        .expect("api");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"2002\""), "{}", r.text());
    let r = web
        .request("GET", "/api/calls?active=true", &bearer, b"")
        .await
        .expect("api");
    assert_eq!(r.status, 200, "{}", r.text());
    testkit::worker_ok(&worker_url, &["user", "disable", "olivia"])
        .await
        .expect("user disable as the worker role (ends sessions)");
    for sql in [
        "UPDATE extensions SET status = 'online'",
        "INSERT INTO calls (source, call_id, status) VALUES ('pbx', 'x', 'ringing')",
        "UPDATE board_users SET role = 'operator'",
        "INSERT INTO api_tokens (name, token_hash) VALUES ('x', decode(repeat('00', 32), 'hex'))",
        "SELECT body FROM events",
        "SELECT * FROM event_queue",
        "SELECT * FROM source_secrets",
        "CREATE TABLE mine (x int)",
    ] {
        denied(&board_url, sql).await;
    }
    allowed(&board_url, "SELECT count(*) FROM board_sessions").await;

    // Hanging up: the worker role sets a source's API settings and reads
    // the audit; the board role reads the (sealed) settings and appends to
    // the audit, which it can neither read back nor change.
    testkit::worker_ok_stdin(
        &worker_url,
        &[
            "source",
            "set-api",
            "pbx",
            "--base-url",
            "https://pbx.example.com",
        ],
        "roles-client-id-0123456789\nroles-client-secret-0123456789\n",
    )
    .await
    .expect("source set-api as the worker role");
    let list = testkit::worker_ok(&worker_url, &["source", "list"])
        .await
        .expect("source list");
    assert!(
        list.contains("api yeastar https://pbx.example.com"),
        "{list}"
    );
    // Exactly what the board's hang-up runs (store::apis::get and record,
    // the call's lock).
    allowed(
        &board_url,
        "SELECT source, provider, base_url, client_hint, ciphertext, nonce, key_id, fingerprint, updated_at
           FROM source_apis WHERE source = 'pbx'",
    )
    .await;
    allowed(
        &board_url,
        "SELECT pg_try_advisory_xact_lock(hashtextextended('switchboard.action:' || 'pbx' || ':' || 'x', 0))",
    )
    .await;
    allowed(
        &board_url,
        "INSERT INTO call_actions (user_name, source, call_id, leg_id, channel_id, action,
                                   outcome, provider_answer, duration_ms)
         VALUES ('olivia', 'pbx', 'x', 'y', NULL, 'hangup', 'unreachable', 'roles test', 3)",
    )
    .await;
    for sql in [
        "SELECT * FROM call_actions",
        "UPDATE call_actions SET outcome = 'ok'",
        "DELETE FROM call_actions",
        "UPDATE source_apis SET base_url = 'https://evil.example'",
        "DELETE FROM source_apis",
        "INSERT INTO source_apis (source, provider, base_url, ciphertext, nonce, key_id, fingerprint)
           VALUES ('pbx', 'yeastar', 'https://x', '\\x00', '\\x00', '00000000', '\\x00')",
    ] {
        denied(&board_url, sql).await;
    }
    let audit = testkit::worker_ok(&worker_url, &["audit"])
        .await
        .expect("audit as the worker role");
    assert!(
        audit.contains("unreachable") && audit.contains("roles test"),
        "{audit}"
    );
    for sql in [
        "INSERT INTO call_actions (user_name, source, call_id, leg_id, outcome) VALUES ('x', 'pbx', 'x', 'y', 'ok')",
        "UPDATE call_actions SET outcome = 'ok'",
        "DELETE FROM call_actions",
    ] {
        denied(&worker_url, sql).await;
    }
    testkit::worker_ok(&worker_url, &["source", "clear-api", "pbx"])
        .await
        .expect("source clear-api as the worker role");

    // The worker may not store webhooks, delete sources or projections, or
    // change the schema (nor record migrations).
    for sql in [
        "INSERT INTO events (source, body, dedup_key) VALUES ('pbx', '', 'k')",
        "DELETE FROM events",
        "DROP TABLE events_default",
        "DELETE FROM sources",
        "DELETE FROM source_secrets",
        "DELETE FROM calls",
        "TRUNCATE call_legs",
        "CREATE TABLE mine (x int)",
        "DROP TABLE extensions",
        "SELECT * FROM __diesel_schema_migrations",
    ] {
        denied(&worker_url, sql).await;
    }
    let (code, _, err) = testkit::worker_cli(&worker_url, &["migrate"])
        .await
        .expect("run");
    assert_ne!(code, 0, "the worker role cannot migrate");
    assert!(err.contains("permission denied"), "{err}");

    // A table a later migration adds: the worker gets it at once (default
    // privileges), ingest only once roles.sql lists it.
    allowed(
        &owner,
        "CREATE TABLE later (id bigserial PRIMARY KEY, x int)",
    )
    .await;
    allowed(&worker_url, "INSERT INTO later (x) VALUES (1)").await;
    allowed(&worker_url, "UPDATE later SET x = 2").await;
    denied(&worker_url, "DELETE FROM later").await;
    denied(&ingest_url, "SELECT * FROM later").await;
    // Re-running roles.sql keeps it (it only resets the tables it names).
    s.apply_roles(&[]).expect("roles.sql after a migration");
    allowed(&worker_url, "SELECT * FROM later").await;
}
