//! The worker service started in the test process (`worker::service::run`,
//! what `worker run` calls), its operators' `/readyz`, and the one 404
//! body of every server (ingest, board, worker; public and operators'
//! ports).

use std::time::Duration;

use serde_json::{json, Value};
use testkit::{start_worker, wait_until, Board, Ingest, TestDb};
use tokio::sync::oneshot;
use worker::service::{self, RunArgs};

use crate::helpers::insert;

const WAIT: Duration = Duration::from_secs(60);

/// `GET path` on `127.0.0.1:port`: the status and the JSON body (`null`
/// when the body is not JSON), or `None` when nothing answers.
async fn get(port: u16, path: &str) -> Option<(u16, Value)> {
    let mut c = traffic::Client::new(format!("127.0.0.1:{port}"), Duration::from_secs(5));
    let r = c.request("GET", path, &[], b"").await.ok()?;
    Some((
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    ))
}

/// Run settings for a test: fast polls, operators' port on `port`.
fn args(port: u16) -> RunArgs {
    let mut a = RunArgs::default();
    a.config.poll_interval = Duration::from_millis(20);
    a.metrics_bind = Some(format!("127.0.0.1:{port}"));
    a.shutdown_timeout = Duration::from_secs(10);
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_in_process_answers_readyz_and_stops_on_request() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    let port = testkit::free_port().expect("port");
    let (stop, stopped) = oneshot::channel::<()>();
    let url = db.url.clone();
    let service = tokio::spawn(async move {
        service::run(&url, &args(port), None, async {
            let _ = stopped.await;
        })
        .await
    });
    wait_until(WAIT, "the worker's /readyz", || async {
        Ok(get(port, "/readyz").await.is_some_and(|(s, _)| s == 200))
    })
    .await
    .expect("ready");
    assert_eq!(
        get(port, "/readyz").await,
        Some((200, json!({"status": "ready"})))
    );
    assert_eq!(
        get(port, "/healthz").await,
        Some((200, json!({"status": "ok"})))
    );
    // It claims and applies what arrives.
    let body = traffic::scenario::yeastar_snapshot(
        30011,
        "svc.1",
        &[traffic::scenario::Member::Ext("2001", "RING")],
    );
    insert(&db, "pbx", "svc-1", &String::from_utf8_lossy(&body)).await;
    wait_until(WAIT, "the event to be processed", || async {
        Ok(db
            .count("SELECT count(*) AS n FROM webhook_events WHERE processed_at IS NOT NULL")
            .await?
            == 1)
    })
    .await
    .expect("processed");
    // Asked to stop, it returns Ok, and its operators' port closes.
    stop.send(()).expect("the service waits for the stop");
    let outcome = tokio::time::timeout(WAIT, service)
        .await
        .expect("stopped in time")
        .expect("joined");
    assert!(outcome.is_ok(), "{outcome:?}");
    wait_until(WAIT, "the operators' port to close", || async {
        Ok(get(port, "/healthz").await.is_none())
    })
    .await
    .expect("closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_database_is_unreachable() {
    let port = testkit::free_port().expect("port");
    let (stop, stopped) = oneshot::channel::<()>();
    // Nothing listens on port 1: every connection attempt fails.
    let service = tokio::spawn(async move {
        service::run(
            "postgres://postgres@127.0.0.1:1/none",
            &args(port),
            None,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    wait_until(WAIT, "the worker's /readyz", || async {
        Ok(get(port, "/readyz").await.is_some())
    })
    .await
    .expect("answers");
    let (status, body) = get(port, "/readyz").await.expect("answer");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // The process still answers /healthz: it is alive, not ready.
    assert_eq!(
        get(port, "/healthz").await,
        Some((200, json!({"status": "ok"})))
    );
    stop.send(()).expect("the service waits for the stop");
    let outcome = tokio::time::timeout(WAIT, service)
        .await
        .expect("stopped in time")
        .expect("joined");
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn the_worker_binary_answers_readyz() {
    let db = TestDb::new().await.expect("db");
    let port = testkit::free_port().expect("port");
    let bind = format!("127.0.0.1:{port}");
    let _w = start_worker(&db.url, &["--metrics-bind", &bind]).expect("worker");
    wait_until(WAIT, "the worker's /readyz", || async {
        Ok(get(port, "/readyz").await == Some((200, json!({"status": "ready"}))))
    })
    .await
    .expect("ready");
}

#[tokio::test]
async fn every_server_answers_the_same_404() {
    let db = TestDb::new().await.expect("db");
    let ingest = Ingest::start(&db.url, &[]).await.expect("ingest");
    let board = Board::start(&db.url, &[]).await.expect("board");
    let worker_port = testkit::free_port().expect("port");
    let bind = format!("127.0.0.1:{worker_port}");
    let _w = start_worker(&db.url, &["--metrics-bind", &bind]).expect("worker");
    wait_until(WAIT, "the worker's operators' port", || async {
        Ok(get(worker_port, "/healthz").await.is_some())
    })
    .await
    .expect("worker up");
    let one = json!({"error": "not_found", "message": "no such route"});
    for (server, port, path) in [
        ("ingest", ingest.port, "/no-such-route"),
        ("ingest", ingest.port, "/webhooks"),
        ("ingest operators'", ingest.admin_port, "/no-such-route"),
        ("board", board.port, "/no-such-route"),
        ("board", board.port, "/assets/nothing.js"),
        ("board operators'", board.admin_port, "/no-such-route"),
        ("worker operators'", worker_port, "/no-such-route"),
    ] {
        assert_eq!(
            get(port, path).await,
            Some((404, one.clone())),
            "{server} GET {path}"
        );
    }
}
