//! Operating Switchboard: stats, process --once, prune, metrics, graceful
//! shutdown, and start-up before the database.

use std::time::{Duration, Instant};

use crate::helpers::insert;
use serde_json::Value;
use testkit::cluster::TempCluster;
use testkit::{
    post_webhook, sign_yeastar, spawn, start_worker, wait_until, Counter, Ingest, TestDb,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traffic::scenario;

const WAIT: Duration = Duration::from_secs(60);

async fn exec(db: &TestDb, sql: &str) {
    db.exec(sql).await.expect("sql");
}

fn ringing(call: &str) -> String {
    String::from_utf8_lossy(&scenario::yeastar_snapshot(
        30011,
        call,
        &[scenario::Member::Ext("2001", "RING")],
    ))
    .into_owned()
}

async fn worker_cli(url: &str, args: &[&str]) -> (i32, String, String) {
    testkit::worker_cli(url, args)
        .await
        .expect("worker command")
}

/// Preloads `n` realistic call events (from the scenarios) into the inbox.
async fn preload_calls(db: &TestDb, n: usize) {
    let kinds = traffic::scenario::YEASTAR_SCENARIOS.len();
    let mut events = Vec::new();
    let mut call = 0u64;
    while events.len() < n {
        let s = testkit::plan::build(call as usize % kinds, call as usize % 5, call);
        events.extend(s.steps.into_iter().map(|st| st.body));
        call += 1;
    }
    events.truncate(n);
    let rows: Vec<(&str, String, Vec<u8>)> = events
        .into_iter()
        .enumerate()
        .map(|(i, body)| ("pbx", format!("p{i}"), body))
        .collect();
    db.insert_events(&rows).await.expect("preload");
}

/// A database with the sources `pbx` and `quiet` (which never sends) and
/// eight pending events of `pbx`: six ringing calls (`r0`..`r5`; `r0`
/// waiting 90 s), one unparseable (`bad`) and one unparseable and dead
/// (`dead`).
async fn ops_db() -> TestDb {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    db.add_source("quiet", "dialpad", &[])
        .await
        .expect("source");
    for i in 0..6 {
        insert(&db, "pbx", &format!("r{i}"), &ringing(&format!("c{i}"))).await;
    }
    insert(&db, "pbx", "bad", "{\"type\": 30011, \"msg\": \"{oops\"}").await;
    insert(&db, "pbx", "dead", "{\"type\": 30011, \"msg\": \"{oops\"}").await;
    exec(
        &db,
        "UPDATE event_queue SET attempts = 10, last_error = 'body is not valid JSON', dead_at = now()
         WHERE id = (SELECT id FROM events WHERE dedup_key = 'dead')",
    )
    .await;
    exec(&db, "UPDATE event_queue SET received_at = now() - interval '90 seconds' WHERE id = (SELECT id FROM events WHERE dedup_key = 'r0')").await;
    db
}

/// `worker stats --json` of `db`.
async fn stats(db: &TestDb) -> Value {
    let (code, out, err) = worker_cli(&db.url, &["stats", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("json")
}

#[tokio::test]
async fn stats_report_pending_dead_lag_and_silent_sources() {
    let db = ops_db().await;
    let s = stats(&db).await;
    assert_eq!(s["pending"], 7, "{s}");
    assert_eq!(s["dead"], 1);
    assert_eq!(s["retrying"], 0);
    assert!(s["lag_seconds"].as_f64().is_some_and(|l| l >= 89.0), "{s}");
    assert_eq!(s["pending_by_type"][0]["source"], "pbx");
    assert_eq!(s["pending_by_type"][0]["count"], 7);
    assert_eq!(s["recent_errors"][0]["dead"], true);
    let quiet = s["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|a| a["source"] == "quiet")
        .cloned();
    assert_eq!(
        quiet.map(|q| q["last_received_at"].clone()),
        Some(Value::Null)
    );
    let (_, table, _) = worker_cli(&db.url, &["stats"]).await;
    assert!(
        table.contains("PENDING EVENT TYPE") && table.contains("RECENT ERRORS"),
        "{table}"
    );
}

#[tokio::test]
async fn stats_thresholds_exit_3_for_cron_and_alerting() {
    let db = ops_db().await;
    let (code, _, err) = worker_cli(&db.url, &["stats", "--max-pending", "5"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("7 pending > 5"));
    assert_eq!(
        worker_cli(&db.url, &["stats", "--max-pending", "7", "--max-dead", "1"])
            .await
            .0,
        0
    );
    assert_eq!(
        worker_cli(&db.url, &["stats", "--max-dead", "0"]).await.0,
        3
    );
}

#[tokio::test]
async fn process_once_drains_what_is_due_and_exits() {
    let db = ops_db().await;
    let (code, out, err) = worker_cli(&db.url, &["process", "--once"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("processed 7 event(s): 6 applied, 0 ignored, 1 failed, 0 dead"),
        "{out}"
    );
    let s = stats(&db).await;
    assert_eq!(
        (s["pending"].clone(), s["retrying"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(s["processed_last_minute"], 6);
}

#[tokio::test]
async fn prune_drops_old_days_and_keeps_days_with_pending_or_dead_events() {
    let db = ops_db().await;
    // r0..r5 processed; bad failed once, retrying; dead stays dead.
    let (code, _, err) = worker_cli(&db.url, &["process", "--once"]).await;
    assert_eq!(code, 0, "{err}");
    // prune: whole old days go; recent days, and days holding pending or
    // dead events, stay.
    let age = async |filter: &str, days: i32, own: bool| {
        db.age_events(filter, days, own).await.expect("age");
    };
    // r1, r2: processed, on a day of their own 40 days ago: dropped whole.
    age("dedup_key IN ('r1', 'r2')", 40, true).await;
    // r3: processed, on a day without a partition (the default one): deleted
    // row by row.
    age("dedup_key = 'r3'", 45, false).await;
    // bad (still retrying) shares its day with r4: the day is kept.
    age("dedup_key IN ('bad', 'r4')", 50, true).await;
    // dead: on a day of its own, died 60 days ago.
    age("dedup_key = 'dead'", 60, true).await;
    let (code, out, err) = worker_cli(&db.url, &["prune", "--older-than", "30d"]).await;
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "deleted 3 event(s); 1 day(s) dropped whole; 2 old day(s) kept (pending or dead events)"
        ),
        "{err}"
    );
    assert_eq!(db.counts().await.expect("counts").events, 5);
    assert_eq!(
        db.count_where(Counter::Events, "dedup_key IN ('r1', 'r2', 'r3')")
            .await
            .expect("n"),
        0
    );
    let (_, out, _) =
        worker_cli(&db.url, &["prune", "--older-than", "30d", "--include-dead"]).await;
    assert_eq!(
        out.trim(),
        "deleted 1 event(s); 1 day(s) dropped whole; 1 old day(s) kept (pending or dead events)"
    );
    assert_eq!(
        db.count_where(Counter::Events, "dedup_key = 'dead'")
            .await
            .expect("n"),
        0
    );
    // The retrying event and its day's neighbour are still there, and it
    // is still retried.
    assert_eq!(
        db.count_where(Counter::Events, "dedup_key IN ('bad', 'r4')")
            .await
            .expect("n"),
        2
    );
    assert_eq!(stats(&db).await["pending"], 1);
}

async fn http_get(port: u16, path: &str) -> String {
    let mut c = traffic::Client::new(format!("127.0.0.1:{port}"), Duration::from_secs(5));
    let r = c.request("GET", path, &[], b"").await.expect("get");
    assert_eq!(r.status, 200);
    r.text()
}

#[tokio::test]
async fn worker_metrics_count_events_by_type_and_outcome() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    for i in 0..5 {
        insert(&db, "pbx", &format!("r{i}"), &ringing(&format!("c{i}"))).await;
    }
    insert(&db, "pbx", "u", "{\"type\": 30034, \"msg\": {}}").await;
    insert(&db, "pbx", "bad", "[]").await;
    let port = testkit::free_port().expect("port");
    let bind = format!("127.0.0.1:{port}");
    let _w =
        start_worker(&db.url, &["--metrics-bind", &bind, "--backoff-base", "1h"]).expect("worker");
    wait_until(WAIT, "metrics to show the outcomes", || async {
        let mut c = traffic::Client::new(format!("127.0.0.1:{port}"), Duration::from_secs(2));
        let Ok(r) = c.request("GET", "/metrics", &[], b"").await else {
            return Ok(false);
        };
        let page = r.text();
        Ok(page.contains(
            r#"switchboard_worker_events_total{event_type="call.status",outcome="processed"} 5"#,
        ) && page.contains(
            r#"switchboard_worker_events_total{event_type="yeastar.30034",outcome="ignored"} 1"#,
        ) && page.contains(
            r#"switchboard_worker_events_total{event_type="unknown",outcome="failed"} 1"#,
        ) && page.contains("switchboard_worker_pending_events 1"))
    })
    .await
    .expect("metrics");
    let page = http_get(port, "/metrics").await;
    for name in [
        "switchboard_worker_batch_size_bucket",
        "switchboard_worker_claim_seconds_bucket",
        "switchboard_worker_apply_seconds_bucket",
        "switchboard_worker_oldest_pending_age_seconds",
    ] {
        assert!(page.contains(name), "{name} missing:\n{page}");
    }
    assert!(http_get(port, "/healthz").await.contains("ok"));
}

#[tokio::test]
async fn sigterm_lets_the_worker_commit_its_batch_and_exit_0() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    preload_calls(&db, 20_000).await;
    let mut w = start_worker(
        &db.url,
        &["--batch-size", "500", "--shutdown-timeout", "20s"],
    )
    .expect("worker");
    wait_until(WAIT, "the worker to be busy", || async {
        Ok(db.count_of(Counter::Processed).await? >= 1000)
    })
    .await
    .expect("busy");
    let t = Instant::now();
    let code = w.terminate(Duration::from_secs(25)).await.expect("exit");
    assert_eq!(code, Some(0), "exit status after SIGTERM");
    let c = db.counts().await.expect("counts");
    let (processed, applied) = (c.processed, c.call_events);
    eprintln!(
        "SIGTERM: exited 0 in {:?} with {processed} of 20000 processed",
        t.elapsed()
    );
    assert!(processed < 20_000, "stopped before draining everything");
    assert_eq!(processed % 500, 0, "only whole batches were committed");
    assert_eq!(
        applied, processed,
        "effects match the events marked processed"
    );
}

#[tokio::test]
async fn sigterm_lets_ingest_finish_requests_in_flight() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["secret"])
        .await
        .expect("source");
    let mut ingest = Ingest::start(&db.url, &["--shutdown-timeout", "10s"])
        .await
        .expect("ingest");
    let body = scenario::yeastar_snapshot(30011, "9.9", &[scenario::Member::Ext("2001", "RING")]);
    let headers: String = sign_yeastar("secret", &body)
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    // A request in flight: headers and half of the body sent.
    let mut s = tokio::net::TcpStream::connect(ingest.authority())
        .await
        .expect("connect");
    let head = format!(
        "POST /webhooks/pbx HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(&body[..body.len() / 2]).await.expect("half");
    s.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = ingest.proc.child.id().expect("pid");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    // New connections are refused once it stops accepting.
    wait_until(
        Duration::from_secs(10),
        "ingest to stop accepting",
        || async {
            Ok(tokio::net::TcpStream::connect(ingest.authority())
                .await
                .is_err())
        },
    )
    .await
    .expect("stopped accepting");
    s.write_all(&body[body.len() / 2..]).await.expect("rest");
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut resp)).await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "in-flight request answered: {resp}"
    );
    let status = tokio::time::timeout(Duration::from_secs(15), ingest.proc.child.wait())
        .await
        .expect("exited")
        .expect("status");
    assert_eq!(status.code(), Some(0));
    assert_eq!(db.counts().await.expect("counts").events, 1);
}

#[tokio::test]
async fn everything_starts_before_the_database_and_catches_up() {
    let cluster = TempCluster::start().expect("cluster");
    cluster.create_db("switchboard").expect("createdb");
    let url = cluster.url("switchboard");
    cluster.pg_stop("fast").expect("stop");
    // Migrate, ingest and a worker all start while PostgreSQL is down.
    let migrate = tokio::process::Command::new(testkit::bin("worker").expect("bin"))
        .args(["migrate", "--wait", "60s"])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "error")
        .output();
    let migrate = tokio::spawn(migrate);
    let port = testkit::free_port().expect("port");
    let bind = format!("127.0.0.1:{port}");
    let admin = format!("127.0.0.1:{}", testkit::free_port().expect("port"));
    let ingest = spawn(
        "ingest",
        &[
            "--bind",
            &bind,
            "--metrics-bind",
            &admin,
            "--db-timeout",
            "1s",
        ],
        &[("DATABASE_URL", &url)],
    )
    .expect("ingest");
    let _worker = start_worker(&url, &[]).expect("worker");
    let client = || traffic::Client::new(bind.clone(), Duration::from_secs(5));
    let admin_client = || traffic::Client::new(admin.clone(), Duration::from_secs(5));
    wait_until(WAIT, "ingest /healthz", || async {
        Ok(client()
            .request("GET", "/healthz", &[], b"")
            .await
            .is_ok_and(|r| r.status == 200))
    })
    .await
    .expect("alive");
    let r = admin_client()
        .request("GET", "/readyz", &[], b"")
        .await
        .expect("readyz");
    assert_eq!(r.status, 503, "not ready without a database");
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.pg_start().expect("start");
    let out = migrate.await.expect("join").expect("migrate ran");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(WAIT, "ingest ready", || async {
        Ok(admin_client()
            .request("GET", "/readyz", &[], b"")
            .await
            .is_ok_and(|r| r.status == 200))
    })
    .await
    .expect("ready");
    // The secret on stdin: never on the command line.
    let secret = "ops-yeastar-secret-0123456789abc";
    let (code, _, err) = testkit::worker_cli_stdin(
        &url,
        &["source", "add", "pbx", "--provider", "yeastar"],
        secret,
    )
    .await
    .expect("worker command");
    assert_eq!(code, 0, "{err}");
    let body = ringing("late.1");
    let p = post_webhook(&mut client(), "pbx", &sign_yeastar(secret, body.as_bytes()))
        .await
        .expect("post");
    assert_eq!(p.status, 200, "{}", p.text);
    wait_until(WAIT, "the worker to process it", || async {
        let (_, out, _) = worker_cli(&url, &["stats", "--json"]).await;
        let s: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        Ok(s["processed_last_minute"] == 1)
    })
    .await
    .expect("processed");
    drop(ingest);
}

/// Completion does not rewrite the event: processing deletes the event's
/// queue row and stores a result row, and the `events` row is the very
/// tuple ingest wrote (same `xmin` and `ctid`). The worker keeps the daily
/// partitions created ahead, and vacuums the queue once enough completions
/// left dead rows in it.
#[tokio::test]
async fn completion_leaves_the_event_untouched_and_the_worker_keeps_the_queue_clean() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    preload_calls(&db, 3000).await;
    let c = db.counts().await.expect("counts");
    let n = c.events;
    assert_eq!(c.queued, n);
    exec(
        &db,
        "CREATE TABLE seen_before AS SELECT id, xmin::text AS x, ctid::text AS t FROM events",
    )
    .await;
    // Partitions ahead are missing (as after a long stop of every worker).
    exec(
        &db,
        "DO $$ DECLARE r record; BEGIN
           FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'events'::regclass
                       AND CASE WHEN c.relname ~ '^events_p[0-9]{8}$'
                                THEN to_date(substr(c.relname, 9), 'YYYYMMDD') > (now() AT TIME ZONE 'UTC')::date
                                ELSE false END LOOP
             EXECUTE format('DROP TABLE %I, %I', r.relname, 'event_results_p' || substr(r.relname, 9));
           END LOOP; END $$",
    )
    .await;
    let _worker = start_worker(&db.url, &["--batch-size", "100"]).expect("worker");
    let c = db
        .wait_counts(WAIT, "every event processed", |c| c.results == n)
        .await
        .expect("processed");
    assert_eq!(c.queued, 0);
    assert_eq!(
        db.count(
            "SELECT count(*) AS n FROM events e JOIN seen_before b
               ON b.id = e.id AND b.x = e.xmin::text AND b.t = e.ctid::text"
        )
        .await
        .expect("n"),
        n,
        "every event row is still the tuple ingest wrote"
    );
    wait_until(WAIT, "the partitions of the next 7 days", || async {
        Ok(db
            .count(
                "SELECT count(*) AS n FROM generate_series(1, 7) d
                  WHERE to_regclass('events_p' || to_char((now() AT TIME ZONE 'UTC')::date + d, 'YYYYMMDD')) IS NOT NULL
                    AND to_regclass('event_results_p' || to_char((now() AT TIME ZONE 'UTC')::date + d, 'YYYYMMDD')) IS NOT NULL",
            )
            .await?
            == 7)
    })
    .await
    .expect("partitions created by the worker");
    wait_until(WAIT, "the worker to vacuum the queue", || async {
        Ok(db
            .count(
                "SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'event_queue'",
            )
            .await?
            > 0)
    })
    .await
    .expect("vacuumed");
}
