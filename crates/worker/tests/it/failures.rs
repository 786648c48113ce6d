//! Failures and retries with the real `worker` binary: backoff, dead events,
//! replay, panics, ignored event types.

use std::time::Duration;

use crate::helpers::{insert, worker_ok};
use testkit::{start_worker, wait_until, Counter, TestDb};

const WAIT: Duration = Duration::from_secs(60);

fn ringing(call: &str, ext: &str) -> String {
    serde_json::json!({"type": 30011, "msg": serde_json::json!({"call_id": call, "members": [
        {"extension": {"number": ext, "channel_id": format!("c-{call}"), "member_status": "RING"}}
    ]}).to_string()})
    .to_string()
}

#[tokio::test]
async fn failing_events_retry_with_backoff_then_die_and_replay_requeues_them() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    for i in 0..5 {
        insert(
            &db,
            "pbx",
            &format!("bad{i}"),
            "{\"type\": 30011, \"msg\": \"{broken\"}",
        )
        .await;
        insert(
            &db,
            "pbx",
            &format!("good{i}"),
            &ringing(&format!("g{i}"), "2001"),
        )
        .await;
    }
    let mut w = start_worker(
        &db.url,
        &[
            "--max-attempts",
            "3",
            "--backoff-base",
            "50ms",
            "--backoff-cap",
            "200ms",
        ],
    )
    .expect("worker");
    db.wait_count(WAIT, Counter::Dead, "attempts = 3", 5)
        .await
        .expect("the bad events to die after 3 attempts");
    assert_eq!(
        db.count_where(Counter::Applied, "attempts = 1")
            .await
            .expect("n"),
        5,
        "the good events were applied once, beside the failures"
    );
    assert_eq!(
        db.count_where(
            Counter::Dead,
            "last_error LIKE '%not valid JSON%' AND processed_at IS NULL"
        )
        .await
        .expect("n"),
        5
    );
    // Dead events stay dead: no further attempts while the worker runs.
    w.terminate(Duration::from_secs(10)).await.expect("stop");
    assert_eq!(
        db.count("SELECT max(attempts)::int8 AS n FROM webhook_events")
            .await
            .expect("n"),
        3
    );
    // Replay by id, then by source.
    let first: i64 = db
        .count("SELECT min(id) AS n FROM webhook_events WHERE dead_at IS NOT NULL")
        .await
        .expect("id");
    let out = worker_ok(&db, &["replay", "--id", &first.to_string()]).await;
    assert_eq!(out.trim(), "re-queued 1 dead event(s)");
    let out = worker_ok(&db, &["replay", "--source", "pbx"]).await;
    assert_eq!(out.trim(), "re-queued 4 dead event(s)");
    let out = worker_ok(&db, &["replay", "--all"]).await;
    assert_eq!(out.trim(), "re-queued 0 dead event(s)");
    assert_eq!(
        db.count_where(
            Counter::Pending,
            "dead_at IS NULL AND attempts = 0 AND next_attempt_at IS NULL"
        )
        .await
        .expect("n"),
        5,
        "replayed events are pending again, attempts reset"
    );
}

#[tokio::test]
async fn a_panic_costs_one_event_not_the_worker_or_its_batch() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    db.add_source("boom", "yeastar", &["s"])
        .await
        .expect("source");
    for i in 0..20 {
        let source = if i == 7 { "boom" } else { "pbx" };
        insert(
            &db,
            source,
            &format!("k{i}"),
            &ringing(&format!("p{i}"), "2001"),
        )
        .await;
    }
    let mut w = crate::helpers::worker_panicking_on(&db, "boom");
    wait_until(WAIT, "19 applied and the panicking one failed", || async {
        let applied = db.count_of(Counter::Applied).await?;
        let failed = db
            .count_where(
                Counter::Failed,
                "source = 'boom' AND attempts = 1 AND last_error LIKE 'panic%'",
            )
            .await?;
        Ok(applied == 19 && failed == 1)
    })
    .await
    .expect("outcomes");
    // The worker is still alive and still works.
    assert!(
        w.child.try_wait().expect("status").is_none(),
        "worker survived the panic"
    );
    insert(&db, "pbx", "after", &ringing("after", "2002")).await;
    db.wait_count(WAIT, Counter::Applied, "dedup_key = 'after'", 1)
        .await
        .expect("a later event applied: the worker still works");
    assert_eq!(
        w.terminate(Duration::from_secs(10)).await.expect("stop"),
        Some(0)
    );
}

#[tokio::test]
async fn unknown_event_types_are_ignored_not_failed() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    db.add_source("dp", "dialpad", &[]).await.expect("source");
    insert(
        &db,
        "pbx",
        "a",
        // 30034 (no `sn`, object `msg`) is not used; 30020, 30025, 30026
        // and 30029 are now applied.
        r#"{"type": 30034, "msg": {"extension": "3105"}}"#,
    )
    .await;
    insert(
        &db,
        "pbx",
        "b",
        r#"{"type": 30036, "sn": "3632C0418MWE", "msg": {"queue_number": "6405"}}"#,
    )
    .await;
    insert(&db, "pbx", "c", "{\"type\": 39999, \"msg\": {}}").await;
    insert(&db, "dp", "d", "{\"some\": \"other event\"}").await;
    let _w = start_worker(&db.url, &[]).expect("worker");
    db.wait_count(
        WAIT,
        Counter::Ignored,
        "processed_at IS NOT NULL AND last_error IS NULL",
        4,
    )
    .await
    .expect("all four processed as ignored");
    let types = db
        .count("SELECT count(DISTINCT event_type) AS n FROM webhook_events WHERE event_type IN ('yeastar.30034', 'yeastar.30036', 'yeastar.39999', 'dialpad.unknown')")
        .await
        .expect("n");
    assert_eq!(types, 4);
}
