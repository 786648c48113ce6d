//! End to end with the real binaries: signed HTTP into `ingest`, `worker run`
//! applying it, rows asserted after each step.

use std::time::Duration;

use crate::helpers::worker_ok;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use store::schema::calls;
use testkit::{start_worker, wait_until, Counter, Ingest, Stack, TestDb};
use traffic::scenario;

const WAIT: Duration = Duration::from_secs(30);
const PBX_SECRET: &str = "pbx-secret-0123456789abcdef01234";
const DP_SECRET: &str = "dp-secret-0123456789abcdef";

/// A stack with the `pbx` (Yeastar) and `dp` (Dialpad) sources, ingest,
/// and one worker started as `worker` (its whole command line).
async fn stack(worker: &[&str]) -> anyhow::Result<Stack> {
    Stack::builder()
        .migrate()
        .yeastar("pbx", PBX_SECRET)
        .dialpad("dp", DP_SECRET)
        .ingest(&[])
        .worker_command(worker)
        .wait(WAIT)
        .start()
        .await
}

/// The status, direction and recording of call `id` of `source`.
async fn call(s: &Stack, source: &str, id: &str) -> (String, Option<String>, Option<String>) {
    let mut c = s.db.conn().await.expect("conn");
    calls::table
        .filter(calls::source.eq(source))
        .filter(calls::call_id.eq(id))
        .select((calls::status, calls::direction, calls::recording_url))
        .first(&mut c)
        .await
        .expect("call row")
}

/// The status of extension `number` of `source`.
async fn ext(s: &Stack, source: &str, number: &str) -> String {
    s.db.extension_status(source, number)
        .await
        .expect("extension")
        .expect("extension row")
}

#[tokio::test]
async fn yeastar_call_end_to_end() -> anyhow::Result<()> {
    let s = stack(&["run", "--poll-interval", "20ms"]).await?;
    let steps = scenario::yeastar_inbound("1800000000.7", "+15555550100", "2002");
    let expect = [
        ("ringing", "ringing", "ringing"),
        ("answered", "active", "incall"),
        ("hold", "active", "incall"),
        ("bye", "ended", "online"),
        ("cdr", "ended", "online"),
    ];
    for (step, (label, call_status, ext_status)) in steps.iter().zip(expect) {
        assert_eq!(step.label, label);
        s.deliver("pbx", &step.body).await?;
        let (status, direction, recording) = call(&s, "pbx", "1800000000.7").await;
        assert_eq!(status, call_status, "call after {label}");
        assert_eq!(direction.as_deref(), Some("inbound"));
        assert_eq!(
            ext(&s, "pbx", "2002").await,
            ext_status,
            "extension after {label}"
        );
        if label == "cdr" {
            assert!(
                recording.is_some_and(|r| r.ends_with(".wav")),
                "recording after CDR"
            );
        }
    }
    let c = s.db.counts().await?;
    assert_eq!((c.applied, c.failed), (5, 0));
    // Ingest keeps the last arrival per source for `worker stats`.
    s.db.wait_count(
        WAIT,
        Counter::Sources,
        "name = 'pbx' AND last_received_at > now() - interval '1 minute'",
        1,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn dialpad_call_end_to_end() -> anyhow::Result<()> {
    let s = stack(&["run", "--poll-interval", "20ms"]).await?;
    let t0 = 1_800_000_000_000;
    let steps = scenario::dialpad_inbound(
        6112934771228672,
        5171365938069504,
        "Jane Agent",
        "+14155550123",
        t0,
    );
    let expect = [
        ("ringing", "ringing", "ringing"),
        ("connected", "active", "incall"),
        ("hangup", "ended", "online"),
        ("recording", "ended", "online"),
    ];
    for (step, (label, call_status, ext_status)) in steps.iter().zip(expect) {
        assert_eq!(step.label, label);
        s.deliver("dp", &step.body).await?;
        let (status, _, recording) = call(&s, "dp", "6112934771228672").await;
        assert_eq!(status, call_status, "call after {label}");
        assert_eq!(
            ext(&s, "dp", "5171365938069504").await,
            ext_status,
            "extension after {label}"
        );
        if label == "recording" {
            assert_eq!(
                recording.as_deref(),
                Some("https://dialpad.example/r/6112934771228672")
            );
        } else {
            assert_eq!(recording, None);
        }
    }
    Ok(())
}

#[tokio::test]
async fn worker_cli_sources_and_migrate() {
    let db = TestDb::new().await.expect("db");
    let (code, _, err) =
        testkit::worker_cli_env(&db.url, &["migrate"], "", &[("RUST_LOG", Some("info"))])
            .await
            .expect("worker");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("up to date"), "{err}");
    // Under LOG_FORMAT=json every line `worker migrate` prints is JSON,
    // its failures included.
    for (url, ok) in [
        (db.url.as_str(), true),
        ("postgres://nobody@127.0.0.1:1/x", false),
    ] {
        let (code, out, err) = testkit::worker_cli_env(
            url,
            &["migrate", "--wait", "0s"],
            "",
            &[("LOG_FORMAT", Some("json")), ("RUST_LOG", Some("info"))],
        )
        .await
        .expect("worker");
        assert_eq!(code == 0, ok, "{err}");
        let lines: Vec<&str> = out.lines().chain(err.lines()).collect();
        assert!(!lines.is_empty());
        for line in lines {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
        }
    }
    // Secrets on stdin (sources.rs tests the source commands in depth).
    for (args, secret) in [
        (
            &["source", "add", "pbx", "--provider", "yeastar"][..],
            "supersecretvalue1",
        ),
        (&["source", "add-secret", "pbx"][..], "anothersecretvalue2"),
    ] {
        testkit::worker_ok_stdin(&db.url, args, secret)
            .await
            .expect("source command");
    }
    let list = worker_ok(&db, &["source", "list"]).await;
    assert!(list.contains("pbx"), "{list}");
    assert_eq!(list.matches("secret #").count(), 2, "{list}");
    assert!(
        !list.contains("supersecretvalue1") && !list.contains("supe"),
        "no part of a secret is printed: {list}"
    );
    let first = db
        .count("SELECT min(id) AS n FROM source_secrets")
        .await
        .expect("id");
    worker_ok(&db, &["source", "revoke-secret", "pbx", &first.to_string()]).await;
    assert_eq!(db.counts().await.expect("counts").active_secrets, 1);
    // A Yeastar source without a secret is refused with a clear message.
    let (code, _, err) =
        testkit::worker_cli(&db.url, &["source", "add", "x", "--provider", "yeastar"])
            .await
            .expect("run");
    assert_ne!(code, 0);
    assert!(err.contains("needs a signing secret"), "{err}");
}

/// `worker wait-schema` fails after its timeout naming the migrations the
/// database lacks, waits while one is missing, and returns as soon as it is
/// applied (what a pod's first step does until the migrate Job has run).
#[tokio::test]
async fn wait_schema_waits_for_this_versions_migrations() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let db = TestDb::new().await.expect("db");
    let latest = db
        .count("SELECT max(version)::bigint AS n FROM __diesel_schema_migrations")
        .await
        .expect("latest version")
        .to_string();
    let forget = "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)";
    db.exec(forget).await.expect("forget the latest migration");
    let (code, _, err) = testkit::worker_cli(&db.url, &["wait-schema", "--timeout", "1s"])
        .await
        .expect("worker");
    assert_ne!(code, 0, "one migration is missing");
    assert!(
        err.contains("1 migration(s) not applied yet") && err.contains(&latest),
        "{err}"
    );

    // Waiting: once it has said what it waits for, the migration arrives.
    let mut waiter = tokio::process::Command::new(testkit::bin("worker").expect("bin"))
        .args(["wait-schema", "--timeout", "60s"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(waiter.stderr.take().expect("stderr")).lines();
    let said = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("waiting for `worker migrate`") {
                return Some(line);
            }
        }
        None
    })
    .await
    .expect("it says what it waits for")
    .expect("a line");
    assert!(said.contains(&latest), "{said}");
    db.exec(&format!(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('{latest}')"
    ))
    .await
    .expect("apply it");
    let status = tokio::time::timeout(WAIT, waiter.wait())
        .await
        .expect("returns once the migration is there")
        .expect("exit status");
    assert!(status.success(), "{status}");
}

/// `worker probe` (the containers' health check): 0 for a 2xx answer, the
/// body with --print, non-zero for another status or nothing listening; no
/// database needed.
#[tokio::test]
async fn probe_checks_an_http_endpoint_without_a_database() {
    let db = TestDb::new().await.expect("db");
    let ingest = Ingest::start(&db.url, &[]).await.expect("ingest");
    let admin = format!("http://127.0.0.1:{}", ingest.admin_port);
    let no_db = [("DATABASE_URL", None)];
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        testkit::worker_cli_env("", &args, "", &no_db)
            .await
            .expect("worker")
    };
    let (code, out, err) = run(vec!["probe".into(), format!("{admin}/readyz")]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "prints nothing without --print: {out}");
    let (code, out, err) = run(vec![
        "probe".into(),
        "--print".into(),
        format!("{admin}/healthz"),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""status":"ok""#), "{out}");
    let (code, _, err) = run(vec!["probe".into(), format!("{admin}/nothing-here")]).await;
    assert_ne!(code, 0);
    assert!(err.contains("404"), "{err}");
    let closed = testkit::free_port().expect("port");
    let (code, _, err) = run(vec![
        "probe".into(),
        "--timeout".into(),
        "2s".into(),
        format!("http://127.0.0.1:{closed}/readyz"),
    ])
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("GET http://127.0.0.1"), "{err}");
}

/// Inserts `n` pending Yeastar events straight into the inbox: calls of two
/// events each (the extension rings, then answers), spread over 50
/// extensions; with `bad_every`, every such event is unparseable instead.
async fn preload(db: &TestDb, n: i64, bad_every: Option<i64>) {
    let mut c = db.conn().await.expect("conn");
    diesel::sql_query(format!(
        "WITH stored AS (INSERT INTO events (source, provider, body, dedup_key)
         SELECT 'pbx', 'yeastar',
                CASE WHEN {bad} > 0 AND i % {bad} = 0 THEN convert_to('{{not json', 'UTF8')
                ELSE convert_to(json_build_object('type', 30011, 'msg', json_build_object(
                   'call_id', 'c' || (i / 2),
                   'members', json_build_array(json_build_object('extension', json_build_object(
                       'number', (1000 + (i / 2) % 50)::text, 'channel_id', 'ch' || (i / 2),
                       'member_status', CASE WHEN i % 2 = 0 THEN 'RING' ELSE 'ANSWER' END))))::text
                )::text, 'UTF8') END,
                'k' || i
         FROM generate_series(1, {n}) AS i
         ORDER BY i
         RETURNING id, day, source, received_at)
         INSERT INTO event_queue (id, day, source, received_at)
         SELECT id, day, source, received_at FROM stored",
        bad = bad_every.unwrap_or(0),
    ))
    .execute(&mut c)
    .await
    .expect("preload");
}

#[tokio::test]
async fn two_workers_drain_2000_events_exactly_once() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    preload(&db, 2000, None).await;
    db.audit_completions().await.expect("audit");
    let _w1 = start_worker(&db.url, &["--batch-size", "50"]).expect("worker 1");
    let _w2 = start_worker(&db.url, &["--batch-size", "50"]).expect("worker 2");
    let c = db
        .wait_counts(Duration::from_secs(120), "the inbox to drain", |c| {
            c.pending == 0
        })
        .await
        .expect("drained");
    let audit = db.completions().await.expect("audit");
    let retried = db
        .count_where(Counter::Events, "attempts <> 1 OR last_error IS NOT NULL")
        .await
        .expect("n");
    assert_eq!((audit.total, audit.events, retried), (2000, 2000, 0));
    // Effects: 1000 calls, each answered (one RING, one ANSWER leg update).
    assert_eq!(c.active_calls, 1000);
    let incall = db
        .count_where(Counter::Extensions, "status = 'incall'")
        .await
        .expect("n");
    assert_eq!(incall, 50);
}

#[tokio::test]
async fn a_bad_event_fails_alone_and_is_retried_later() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    preload(&db, 100, Some(10)).await; // 10 bad bodies among 100
    let _w =
        start_worker(&db.url, &["--backoff-base", "1h", "--backoff-cap", "2h"]).expect("worker");
    wait_until(
        WAIT,
        "good events processed and bad ones failed",
        || async {
            let done = db.count_of(Counter::Processed).await?;
            let failed = db
                .count_where(Counter::Pending, "attempts = 1 AND last_error IS NOT NULL")
                .await?;
            Ok(done == 90 && failed == 10)
        },
    )
    .await
    .expect("outcomes");
    let scheduled = db
        .count_where(
            Counter::Pending,
            "next_attempt_at > now() + interval '20 minutes'",
        )
        .await
        .expect("n");
    assert_eq!(scheduled, 10, "failures wait for their backoff");
    let msg = db
        .count_where(Counter::Failed, "last_error LIKE '%not valid JSON%'")
        .await
        .expect("n");
    assert_eq!(msg, 10);
}

#[tokio::test]
async fn notify_wakes_the_worker_without_waiting_for_the_poll() -> anyhow::Result<()> {
    // Polls once at start, then only every 10 minutes: only a NOTIFY can wake it.
    let s = stack(&["run", "--poll-interval", "10m"]).await?;
    wait_until(WAIT, "the worker to LISTEN", || async {
        Ok(s.db.listening("switchboard_inbox").await? > 0)
    })
    .await?;
    let steps = scenario::yeastar_inbound("1800000001.1", "+15555550100", "2002");
    for step in &steps[..2] {
        s.deliver("pbx", &step.body).await?;
    }
    assert_eq!(ext(&s, "pbx", "2002").await, "incall");
    Ok(())
}
