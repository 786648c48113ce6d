//! When deliveries are due: one written behind an earlier delivery of its
//! subject that waits for a retry is not due before that retry (claims
//! never read it until it can go); behind one in flight, or with none
//! before it, it is due at once. And the outbox's pruning takes the
//! deliveries of what it deletes, now that they have no foreign keys.

use std::time::Duration;

use domain::outbound::OutEvent;
use store::events_out;
use testkit::TestDb;

use super::fixture::{add_endpoint, count};

fn event(subject: &str) -> OutEvent {
    OutEvent {
        event_type: "extension.status_changed",
        source: "ds".into(),
        subject: subject.into(),
        occurred_at: chrono::Utc::now(),
        fields: domain::outbound::Fields::default(),
    }
}

async fn write(db: &TestDb, events: &[OutEvent]) {
    let mut c = db.conn().await.expect("conn");
    events_out::write(&mut c, events, None, &mut Vec::new(), None)
        .await
        .expect("write");
}

async fn due_now(db: &TestDb, subject: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT count(*) AS n FROM webhook_deliveries
              WHERE subject = '{subject}' AND next_at <= now() + interval '1 second'"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_behind_a_retry_is_due_no_sooner_than_the_retry() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    add_endpoint(&db, "crm", "http://127.0.0.1:9/h", &["--allow-private"]).await;
    write(&db, &[event("extension:ds:1"), event("extension:ds:2")]).await;
    // Subject 1's delivery waits for a retry in an hour; subject 2's is in
    // flight (leased).
    for sql in [
        "UPDATE webhook_deliveries SET attempts = 1, next_at = now() + interval '1 hour'
          WHERE subject = 'extension:ds:1'",
        "UPDATE webhook_deliveries SET attempts = 1, leased_until = now() + interval '1 minute',
                next_at = now() + interval '1 minute'
          WHERE subject = 'extension:ds:2'",
    ] {
        db.exec(sql).await.expect("states");
    }
    write(
        &db,
        &[
            event("extension:ds:1"),
            event("extension:ds:2"),
            event("extension:ds:3"),
        ],
    )
    .await;
    assert_eq!(due_now(&db, "extension:ds:1").await, 0, "behind the retry");
    let behind = count(
        &db,
        "SELECT count(*) AS n FROM webhook_deliveries
          WHERE subject = 'extension:ds:1' AND next_at >= now() + interval '59 minutes'",
    )
    .await;
    assert_eq!(behind, 2);
    assert_eq!(
        due_now(&db, "extension:ds:2").await,
        1,
        "behind one in flight"
    );
    assert_eq!(due_now(&db, "extension:ds:3").await, 1, "nothing before it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_takes_the_deliveries_of_what_it_deletes() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    add_endpoint(&db, "crm", "http://127.0.0.1:9/h", &["--allow-private"]).await;
    write(
        &db,
        &[
            event("extension:ds:1"),
            event("extension:ds:2"),
            event("extension:ds:3"),
        ],
    )
    .await;
    // Old events: 1 delivered, 2 still pending, 3 pending for an endpoint
    // removed while its batch was being written (no such endpoint).
    for sql in [
        "UPDATE outbox SET created_at = now() - interval '8 days'",
        "UPDATE webhook_deliveries SET state = 'delivered', done_at = now()
          WHERE subject = 'extension:ds:1'",
        "UPDATE webhook_deliveries SET endpoint_id = 999999 WHERE subject = 'extension:ds:3'",
    ] {
        db.exec(sql).await.expect("states");
    }
    let mut c = db.conn().await.expect("conn");
    let pruned = events_out::prune(&mut c, Duration::from_secs(7 * 86_400), 100)
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM outbox WHERE subject = 'extension:ds:2'"
        )
        .await,
        1,
        "an event still awaited is kept"
    );
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM webhook_deliveries").await,
        1,
        "only the pending delivery is left"
    );
    // `endpoint remove` takes the endpoint's deliveries with it.
    testkit::worker_ok(&db.url, &["endpoint", "remove", "crm"])
        .await
        .expect("remove");
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM webhook_deliveries").await,
        0
    );
}
