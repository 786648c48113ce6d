//! Least privilege: `deploy/roles.sql` applied to a fresh database on a
//! private server; the real `ingest`, `worker` and `board` run with their own roles
//! (password and TLS only, `sslmode=verify-full`) and do their whole job,
//! and each role is refused what it has no business doing. Each test has a
//! server of its own (roles are server-wide): tests never share roles,
//! with each other or with other test runs.

use std::path::PathBuf;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use testkit::cluster::{ClusterConfig, TempCluster, TestPki};
use testkit::{sign_yeastar, wait_until, Board, Counter, Ingest, Posted, TestDb};
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

    /// The database, as the owner sees it (for counts).
    fn db(&self) -> TestDb {
        TestDb::attach(&self.owner())
    }

    fn ingest_url(&self) -> String {
        self.url("switchboard_ingest", INGEST_PASSWORD)
    }

    fn worker_url(&self) -> String {
        self.url("switchboard_worker", WORKER_PASSWORD)
    }

    fn board_url(&self) -> String {
        self.url("switchboard_board", BOARD_PASSWORD)
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

    /// Adds the Yeastar source `pbx` as the worker role (which
    /// administers sources) and lists it.
    async fn add_source(&self) {
        testkit::worker_ok_stdin(
            &self.worker_url(),
            &["source", "add", "pbx", "--provider", "yeastar"],
            &format!("{SECRET}\n"),
        )
        .await
        .expect("source add as the worker role");
        testkit::worker_ok(&self.worker_url(), &["source", "list"])
            .await
            .expect("source list");
    }

    /// Ingest, running with its role (Yeastar's dedup window: 1 s).
    async fn ingest(&self) -> Ingest {
        Ingest::start(&self.ingest_url(), &["--yeastar-dedup-window", "1s"])
            .await
            .expect("ingest with its role")
    }
}

/// A private server with the `switchboard` database, no roles yet.
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

/// [`start`], migrated by the owner, with `deploy/roles.sql` applied.
async fn with_roles() -> Server {
    let s = start().await;
    testkit::worker_ok(&s.owner(), &["migrate"])
        .await
        .expect("migrate as the owner");
    s.apply_roles(&[]).expect("roles.sql");
    s
}

/// [`with_roles`], with the source `pbx`, ingest running with its role,
/// and two calls ringing (stored, not processed).
async fn with_events() -> (Server, Ingest) {
    let s = with_roles().await;
    s.add_source().await;
    let ingest = s.ingest().await;
    for call in ["1800000000.9", "1800000000.10"] {
        let steps = scenario::yeastar_inbound(call, "+15555550100", "2002");
        let p = post(&ingest, &steps[0].body).await;
        assert!(!p.is_duplicate());
    }
    (s, ingest)
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

/// Posts a signed Yeastar body for `pbx`, which must be answered 200.
async fn post(ingest: &Ingest, body: &[u8]) -> Posted {
    let p = ingest
        .post("pbx", &sign_yeastar(SECRET, body))
        .await
        .expect("post");
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(p.id().is_some(), "{}", p.text);
    p
}

#[tokio::test]
async fn roles_sql_needs_the_passwords_and_can_run_again() {
    let s = start().await;
    testkit::worker_ok(&s.owner(), &["migrate"])
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
}

#[tokio::test]
async fn a_role_with_a_wrong_password_is_refused() {
    let s = with_roles().await;
    let e = store::connect(&s.url("switchboard_ingest", "wrong"))
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
}

#[tokio::test]
async fn every_role_reads_which_migrations_are_applied_and_nothing_else_there() {
    let s = with_roles().await;
    // `worker wait-schema` is the first step of every pod on Kubernetes.
    for url in [s.ingest_url(), s.worker_url(), s.board_url()] {
        testkit::worker_ok(&url, &["wait-schema", "--timeout", "5s"])
            .await
            .expect("wait-schema as a service role");
        denied(&url, "SELECT run_on FROM __diesel_schema_migrations").await;
    }
}

#[tokio::test]
async fn the_ingest_role_stores_deduplicates_and_stamps_the_source() {
    let s = with_roles().await;
    s.add_source().await;
    // Ingest stores, deduplicates and (Yeastar, after the window) retires.
    let ingest = s.ingest().await;
    let steps = scenario::yeastar_inbound("1800000000.9", "+15555550100", "2002");
    let first = post(&ingest, &steps[0].body).await;
    assert!(!first.is_duplicate());
    let again = post(&ingest, &steps[0].body).await;
    assert_eq!((again.id(), again.is_duplicate()), (first.id(), true));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = post(&ingest, &steps[0].body).await;
    assert!(
        !later.is_duplicate() && later.id() != first.id(),
        "after the window: a new event"
    );
    s.db()
        .wait_count(WAIT, Counter::Sources, "last_received_at IS NOT NULL", 1)
        .await
        .expect("last_received_at stamped by ingest");
}

#[tokio::test]
async fn the_worker_role_processes_events_once_and_with_listen() {
    let (s, ingest) = with_events().await;
    let db = s.db();
    // The worker role processes them (process --once) ...
    let out = testkit::worker_ok(&s.worker_url(), &["process", "--once"])
        .await
        .expect("process --once as the worker role");
    assert!(out.contains("processed 2 event(s): 2 applied"), "{out}");
    // ... and keeps processing with LISTEN (worker run).
    let _worker = testkit::spawn(
        "worker",
        &["run", "--poll-interval", "10m"],
        &[("DATABASE_URL", &s.worker_url())],
    )
    .expect("worker run");
    wait_until(WAIT, "the worker to LISTEN", || async {
        Ok(db
            .count(
                "SELECT count(*) AS n FROM pg_stat_activity
                  WHERE usename = 'switchboard_worker' AND query LIKE 'LISTEN%'",
            )
            .await?
            > 0)
    })
    .await
    .expect("listening");
    let steps = scenario::yeastar_inbound("1800000000.9", "+15555550100", "2002");
    let answered = post(&ingest, &steps[1].body).await.id().expect("id");
    db.wait_count(WAIT, Counter::Processed, &format!("id = {answered}"), 1)
        .await
        .expect("processed by worker run");
    assert_eq!(db.counts().await.expect("counts").active_calls, 1);
}

#[tokio::test]
async fn the_worker_role_runs_the_operator_commands() {
    let (s, _ingest) = with_events().await;
    let (owner, worker_url) = (s.owner(), s.worker_url());
    testkit::worker_ok(&worker_url, &["process", "--once"])
        .await
        .expect("process --once as the worker role");
    // The events are aged into a day of their own, so that prune drops it whole.
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
    assert_eq!(s.db().counts().await.expect("counts").events, 0, "pruned");
}

#[tokio::test]
async fn every_connection_of_the_service_roles_is_encrypted() {
    let (s, _ingest) = with_events().await;
    let _worker = testkit::spawn(
        "worker",
        &["run", "--poll-interval", "20ms"],
        &[("DATABASE_URL", &s.worker_url())],
    )
    .expect("worker run");
    let _board = Board::start(&s.board_url(), &[])
        .await
        .expect("board with its role");
    let db = s.db();
    let of_roles = "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.usename IN ('switchboard_ingest', 'switchboard_worker', 'switchboard_board')";
    wait_until(WAIT, "a connection of each role", || async {
        Ok(db
            .count(&format!("SELECT count(DISTINCT a.usename) AS n {of_roles}"))
            .await?
            == 3)
    })
    .await
    .expect("each role connected");
    assert_eq!(
        db.count(&format!("SELECT count(*) AS n {of_roles} AND NOT s.ssl"))
            .await
            .expect("n"),
        0
    );
}

#[tokio::test]
async fn the_ingest_role_may_store_and_notify_and_nothing_more() {
    let s = with_roles().await;
    let ingest_url = s.ingest_url();
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
}

#[tokio::test]
async fn the_board_role_logs_people_in_and_serves_tokens() {
    let (s, _ingest) = with_events().await;
    let worker_url = s.worker_url();
    testkit::worker_ok(&worker_url, &["process", "--once"])
        .await
        .expect("process --once as the worker role");
    // The worker role manages the board's users and tokens.
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
    // The board follows the change feed, logs people in (sessions, the
    // login limit) and serves tokens.
    let board = Board::start(&s.board_url(), &[])
        .await
        .expect("board with its role");
    let mut web = traffic::Client::new(format!("127.0.0.1:{}", board.port), WAIT);
    let form = |pw: &str| format!("username=olivia&password={pw}");
    let login_headers = [
        ("Origin".to_string(), board.url()),
        (
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
    ];
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
}

#[tokio::test]
async fn the_board_role_may_change_nothing_else() {
    let s = with_roles().await;
    let board_url = s.board_url();
    for sql in [
        "UPDATE extensions SET status = 'online'",
        "INSERT INTO calls (source, call_id, status) VALUES ('pbx', 'x', 'ringing')",
        "UPDATE board_users SET role = 'operator'",
        "INSERT INTO api_tokens (name, token_hash) VALUES ('x', decode(repeat('00', 32), 'hex'))",
        // The console reads the inbox and re-queues dead events: nothing
        // more of it.
        "DELETE FROM events",
        "UPDATE events SET body = 'x'",
        "DELETE FROM event_queue",
        "UPDATE event_queue SET last_error = 'x', event_type = 'x'",
        "INSERT INTO event_results (id, day, processed_at, outcome, attempts)
         VALUES (1, current_date, now(), 'applied', 1)",
        "SELECT ciphertext FROM webhook_endpoints",
        "UPDATE webhook_endpoints SET enabled = false",
        "DELETE FROM webhook_deliveries",
        "UPDATE webhook_deliveries SET last_status = 200",
        "SELECT * FROM console_actions",
        "DELETE FROM console_actions",
        "SELECT * FROM source_secrets",
        "CREATE TABLE mine (x int)",
    ] {
        denied(&board_url, sql).await;
    }
    allowed(&board_url, "SELECT count(*) FROM board_sessions").await;
    // Exactly what the console runs (store::inbox::search, event, replay;
    // store::events_out::list, deliveries, resend, recover;
    // store::console::record).
    for sql in [
        "SELECT e.body, e.headers, q.dead_at, r.outcome FROM events e
           LEFT JOIN event_queue q ON q.id = e.id
           LEFT JOIN event_results r ON r.id = e.id AND r.day = e.day",
        "UPDATE event_queue SET dead_at = NULL, next_attempt_at = NULL, attempts = 0
          WHERE dead_at IS NOT NULL AND id = ANY('{1}') AND source = 'pbx' AND event_type = 'x'",
        "NOTIFY switchboard_inbox",
        "SELECT e.name, e.url, e.types, e.source, e.allow_private, e.enabled, e.disabled_reason,
                e.failing_since, e.previous_until, count(d.id)
           FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
          GROUP BY e.id ORDER BY e.name",
        "INSERT INTO webhook_deliveries (endpoint_id, event_seq, subject)
         SELECT e.id, o.seq, o.subject FROM webhook_endpoints e, outbox o WHERE false
         ON CONFLICT (endpoint_id, event_seq) DO UPDATE SET state = 'pending', next_at = now(),
            created_at = now(), done_at = NULL, leased_until = NULL",
        "UPDATE webhook_deliveries d SET state = 'pending', next_at = now(), created_at = now(),
            done_at = NULL, leased_until = NULL
           FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.name = 'x' AND d.state = 'failed'",
        "INSERT INTO console_actions (user_name, action, target, count)
         VALUES ('olivia', 'replay', '1', 1)",
    ] {
        allowed(&board_url, sql).await;
    }
}

/// Hanging up: the worker role sets a source's API settings and reads the
/// audit; the board role reads the (sealed) settings and appends to the
/// audit, which it can neither read back nor change.
#[tokio::test]
async fn hang_up_settings_and_audit_are_split_between_the_worker_and_board_roles() {
    let s = with_roles().await;
    s.add_source().await;
    let (worker_url, board_url) = (s.worker_url(), s.board_url());
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
}

#[tokio::test]
async fn the_worker_role_may_not_store_webhooks_or_change_the_schema() {
    let s = with_roles().await;
    let worker_url = s.worker_url();
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
}

/// A table a later migration adds: the worker gets it at once (default
/// privileges), ingest only once roles.sql lists it.
#[tokio::test]
async fn a_later_table_reaches_the_worker_at_once_and_ingest_not() {
    let s = with_roles().await;
    let (worker_url, ingest_url) = (s.worker_url(), s.ingest_url());
    allowed(
        &s.owner(),
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

/// The call centre: the board role runs exactly what the board's queue,
/// agent, missed call and history reads run, and marks a missed call done
/// (audited); it changes nothing else there. The worker role runs the
/// operator's call-centre commands.
#[tokio::test]
async fn the_call_centre_reads_and_done_marks_fit_the_board_and_worker_roles() {
    let (s, _ingest) = with_events().await;
    let (worker_url, board_url) = (s.worker_url(), s.board_url());
    testkit::worker_ok(&worker_url, &["process", "--once"])
        .await
        .expect("process --once as the worker role");
    for args in [
        &["source", "set-timezone", "pbx", "Europe/Berlin"][..],
        &["queue", "set-sla", "pbx", "6405", "15"],
        &["queue", "settings"],
        &["queue", "list"],
        &["missed", "list"],
        &["history", "--csv", "--all"],
        &["history", "--number", "+15555550100", "--repeat", "3"],
        &["audit", "--missed"],
        &["queue", "clear-sla", "pbx", "6405"],
    ] {
        testkit::worker_ok(&worker_url, args)
            .await
            .unwrap_or_else(|e| panic!("worker {args:?} as the worker role: {e}"));
    }
    // An entry to mark done (the owner writes it: the board never creates
    // one).
    allowed(
        &s.owner(),
        "INSERT INTO missed_calls (source, number, missed_count, last_at)
         VALUES ('pbx', '+15555550100', 1, now())",
    )
    .await;
    let mut board = store::connect(&board_url).await.expect("board connects");
    use domain::projection::read;
    read::queues(&mut board, None, None)
        .await
        .expect("queues as the board role");
    read::waiting_calls(&mut board, None, None)
        .await
        .expect("waiting calls as the board role");
    read::agents(&mut board, Some("pbx"), None)
        .await
        .expect("agents as the board role");
    read::missed_calls(&mut board, None, None, 10)
        .await
        .expect("missed calls as the board role");
    let filter = read::HistoryFilter {
        number: Some("+15555550100".into()),
        extension: Some("2002".into()),
        queue: Some("6405".into()),
        outcome: Some("answered".into()),
        limit: 10,
        ..Default::default()
    };
    read::history(&mut board, &filter)
        .await
        .expect("history as the board role");
    let done = store::missed::mark_done(&mut board, "olivia", "pbx", "+15555550100", None)
        .await
        .expect("mark done as the board role");
    assert_eq!(done.left, 0);
    for sql in [
        "SELECT * FROM missed_call_actions",
        "DELETE FROM missed_calls",
        "INSERT INTO missed_calls (source, number) VALUES ('pbx', '1')",
        "UPDATE call_queues SET outcome = 'answered'",
        "INSERT INTO queue_agents (source, queue, agent) VALUES ('pbx', '1', '2')",
        "UPDATE queue_settings SET sla_seconds = 1",
        "UPDATE sources SET timezone = 'UTC'",
        "SELECT provider FROM sources",
    ] {
        denied(&board_url, sql).await;
    }
    let audit = testkit::worker_ok(&worker_url, &["audit", "--missed"])
        .await
        .expect("audit --missed as the worker role");
    assert!(audit.contains("olivia"), "{audit}");
    for sql in [
        "DELETE FROM missed_call_actions",
        "UPDATE missed_call_actions SET missed_count = 0",
        "DELETE FROM call_queues",
    ] {
        denied(&worker_url, sql).await;
    }
}

#[tokio::test]
async fn call_control_fits_the_board_and_worker_roles() {
    let s = with_roles().await;
    s.add_source().await;
    let (worker_url, board_url) = (s.worker_url(), s.board_url());
    // The worker role sets roles and extensions (`worker user`).
    testkit::worker_ok_stdin(
        &worker_url,
        &["user", "add", "sam", "--role", "operator"],
        "supervisor password 1\n",
    )
    .await
    .expect("user add as the worker role");
    testkit::worker_ok(&worker_url, &["user", "set-role", "sam", "supervisor"])
        .await
        .expect("set-role as the worker role");
    testkit::worker_ok(&worker_url, &["user", "set-extension", "sam", "2009"])
        .await
        .expect("set-extension as the worker role");
    // What the board runs: the user's extension, the sources' providers,
    // the audit of an action on an extension.
    for sql in [
        "SELECT extension FROM board_users WHERE name = 'sam'",
        "SELECT source, provider FROM source_apis ORDER BY source",
        "INSERT INTO call_actions (user_name, source, call_id, leg_id, channel_id, action,
                                   outcome, provider_answer, duration_ms, extension, detail)
         VALUES ('sam', 'pbx', NULL, NULL, NULL, 'pause', 'unavailable', 'roles test', 1, '2003', 'queue 6400')",
    ] {
        allowed(&board_url, sql).await;
    }
    for sql in [
        "UPDATE board_users SET extension = '1' WHERE name = 'sam'",
        "UPDATE board_users SET role = 'supervisor'",
    ] {
        denied(&board_url, sql).await;
    }
    let audit = testkit::worker_ok(&worker_url, &["audit"])
        .await
        .expect("audit as the worker role");
    assert!(
        audit.contains("pause queue 6400") && audit.contains("ext 2003"),
        "{audit}"
    );
}
