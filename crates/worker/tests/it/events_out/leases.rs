//! Leases: a claimed run belongs to its claim. A completion or a give-back
//! applies only while its lease holds; a resend leaves a delivery in
//! flight alone; the rest of a run stopped by a retry goes back unsent,
//! behind it; an endpoint never has more runs in flight than
//! `--per-endpoint`; a failing endpoint is claimed only when asked for.

use std::time::Duration;

use store::events_out::{self, Attempt, Claimed, Completion, Next, Resent, Room};
use testkit::TestDb;

use super::fixture::{add_endpoint, args, count, deliverer, one_call, settled};
use super::receiver::{Receiver, Reply};

const LEASE: Duration = Duration::from_secs(60);

async fn claim(db: &TestDb, heads: i64) -> Vec<Claimed> {
    claim_with(db, heads, true).await
}

async fn claim_with(db: &TestDb, heads: i64, with_failing: bool) -> Vec<Claimed> {
    let mut c = db.conn().await.expect("conn");
    let room = Room {
        default: 4,
        ..Room::default()
    };
    events_out::claim(&mut c, heads, &room, LEASE, with_failing)
        .await
        .expect("claim")
}

async fn complete(db: &TestDb, done: &[Completion]) -> usize {
    let mut c = db.conn().await.expect("conn");
    events_out::complete(&mut c, done).await.expect("complete")
}

async fn resend(db: &TestDb, event_id: &str) -> Resent {
    let mut c = db.conn().await.expect("conn");
    events_out::resend(&mut c, "crm", event_id)
        .await
        .expect("resend")
}

fn delivered(c: &Claimed) -> Completion {
    Completion::Attempted {
        id: c.id,
        lease: c.lease,
        at: chrono::Utc::now(),
        attempt: Attempt {
            status: Some(200),
            ..Attempt::default()
        },
        next: Next::Delivered,
    }
}

/// An endpoint that only the test claims for (nothing listens there), for
/// one call's call events, made.
async fn one_run(db: &TestDb) {
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    add_endpoint(
        db,
        "crm",
        "http://127.0.0.1:9/hooks",
        &["--allow-private", "--types", "call.*"],
    )
    .await;
    one_call(db, "ds", 1).await;
}

async fn row(db: &TestDb, id: i64, what: &str) -> i64 {
    count(
        db,
        &format!("SELECT ({what})::int::int8 AS n FROM webhook_deliveries WHERE id = {id}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_applies_only_while_its_lease_holds() {
    let db = TestDb::new().await.expect("db");
    one_run(&db).await;
    let first = claim(&db, 1).await;
    assert!(first.len() >= 2, "one call's run: {first:?}");
    assert!(first.iter().all(|c| c.head == first[0].id));
    let head = &first[0];
    // The first holder stalls past its lease; another worker claims the
    // head again (the rest of the run is still leased: not claimed).
    db.exec(&format!(
        "UPDATE webhook_deliveries SET leased_until = now() - interval '1 second', next_at = now() - interval '1 second' WHERE id = {}",
        head.id
    ))
    .await
    .expect("lapse");
    let second = claim(&db, 1).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].id, head.id);
    assert_ne!(second[0].lease, head.lease);
    // The first holder's late result changes nothing.
    assert_eq!(complete(&db, &[delivered(head)]).await, 0);
    assert_eq!(row(&db, head.id, "state = 'pending'").await, 1);
    assert_eq!(row(&db, head.id, "leased_until IS NOT NULL").await, 1);
    // Its give-back of the rest applies: that lease still holds.
    let rest = &first[1];
    let back = Completion::Released {
        id: rest.id,
        lease: rest.lease,
        not_before: None,
    };
    assert_eq!(complete(&db, &[back]).await, 0);
    assert_eq!(row(&db, rest.id, "attempts").await, 0);
    assert_eq!(row(&db, rest.id, "leased_until IS NULL").await, 1);
    // The holder's result applies.
    assert_eq!(complete(&db, &[delivered(&second[0])]).await, 1);
    assert_eq!(row(&db, head.id, "state = 'delivered'").await, 1);
    assert_eq!(row(&db, head.id, "attempts").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_left_out_of_claims_unless_asked_for() {
    let db = TestDb::new().await.expect("db");
    one_run(&db).await;
    db.exec("UPDATE webhook_endpoints SET failing_since = now() WHERE name = 'crm'")
        .await
        .expect("failing");
    assert!(claim_with(&db, 4, false).await.is_empty());
    assert!(!claim_with(&db, 4, true).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_leaves_a_delivery_in_flight_alone() {
    let db = TestDb::new().await.expect("db");
    one_run(&db).await;
    let run = claim(&db, 1).await;
    let head = &run[0];
    let leased = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM webhook_deliveries WHERE id = {} AND leased_until = '{}'",
            head.id,
            head.lease.to_rfc3339()
        ),
    )
    .await;
    assert_eq!(leased, 1);
    assert_eq!(resend(&db, &head.event_id).await, Resent::InFlight);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE id = {} AND leased_until = '{}'",
                head.id,
                head.lease.to_rfc3339()
            ),
        )
        .await,
        1,
        "the lease is kept"
    );
    assert_eq!(complete(&db, &[delivered(head)]).await, 1);
    assert_eq!(resend(&db, &head.event_id).await, Resent::Queued);
    assert_eq!(row(&db, head.id, "state = 'pending'").await, 1);
    assert_eq!(
        resend(&db, "evt_00000000000000000000000000000000").await,
        Resent::Unknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_gives_the_rest_of_its_run_back_unsent() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let rx = Receiver::start(|_, _, _| Reply::status(500)).await;
    add_endpoint(
        &db,
        "crm",
        &rx.url("/crm"),
        &["--allow-private", "--types", "call.*"],
    )
    .await;
    one_call(&db, "ds", 1).await;
    let total = count(&db, "SELECT count(*) AS n FROM webhook_deliveries").await;
    assert!(total >= 2);
    let mut a = args();
    a.backoff_base = Duration::from_secs(30);
    a.backoff_cap = Duration::from_secs(60);
    let (stop, task) = deliverer(&db, a);
    // The head failed once; the rest went back without an attempt.
    testkit::wait_until(Duration::from_secs(20), "the run given back", || async {
        Ok(db
            .count("SELECT count(*) AS n FROM webhook_deliveries WHERE leased_until IS NULL AND last_attempt_at IS NULL AND attempts = 0")
            .await?
            == total - 1
            && db
                .count("SELECT count(*) AS n FROM webhook_deliveries WHERE attempts = 1 AND last_status = 500 AND leased_until IS NULL")
                .await?
                == 1)
    })
    .await
    .expect("given back");
    let _ = stop.send(());
    let _ = task.await;
    assert_eq!(rx.on("/crm").len(), 1, "only the head was sent");
    // Behind the retry: none of the rest is due before the head.
    let early = count(
        &db,
        "SELECT count(*) AS n FROM webhook_deliveries r, webhook_deliveries h
          WHERE h.attempts = 1 AND r.attempts = 0 AND r.next_at < h.next_at",
    )
    .await;
    assert_eq!(early, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_never_has_more_runs_in_flight_than_per_endpoint() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let (open, rx) = Receiver::gated("/slow").await;
    // One run per call on the slow endpoint (its call events).
    add_endpoint(
        &db,
        "slow",
        &rx.url("/slow"),
        &["--allow-private", "--types", "call.*"],
    )
    .await;
    add_endpoint(&db, "fast", &rx.url("/fast"), &["--allow-private"]).await;
    let mut a = args();
    a.per_endpoint = 2;
    let (stop, task) = deliverer(&db, a);
    // Calls one after the other: each time, the fast endpoint settling
    // shows the claims have seen the new call's deliveries.
    for n in 1..=5 {
        one_call(&db, "ds", n).await;
        settled(&db, "fast").await;
    }
    let held = rx.on("/slow").len();
    assert_eq!(held, 2, "requests held by the slow endpoint at once");
    let _ = open.send(true);
    settled(&db, "slow").await;
    let _ = stop.send(());
    let _ = task.await;
}
