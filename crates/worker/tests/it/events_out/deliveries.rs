//! Deliveries, end to end: events produced by three workers from shuffled,
//! duplicated webhooks, delivered by `worker::deliver` to a local receiver
//! that verifies every delivery with the `standardwebhooks` crate (an
//! independent implementation), per-call order, retries, Retry-After, 410,
//! a slow endpoint beside a fast one, SSRF refusals, secret rotation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use testkit::TestDb;
use worker::deliver::DeliverArgs;

use super::fixture::{
    a_plan, add_endpoint, args, count, deliverer, delivery_workers, one_call, produce,
    produce_with, settled,
};
use super::receiver::{Receiver, Reply};
use super::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_verify_with_standardwebhooks_and_keep_per_call_order() {
    order_case(false).await;
}

/// The same with `worker run --deliver`'s hand-over: three workers, each
/// with the delivery workers of its own process (its own lessee), sending
/// their batches' deliveries on commit while the next batches are made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handed_over_deliveries_keep_per_call_order_across_three_processes() {
    order_case(true).await;
}

/// A call's first event is handed over and held in flight by its
/// endpoint, then answered 500; the call's later events, handed over
/// meanwhile by the same process, wait behind it: none is sent before the
/// first one's retry is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handed_over_event_waits_behind_its_calls_event_in_flight() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let (open, gate) = tokio::sync::watch::channel(false);
    let rx = Receiver::start(move |_, _, earlier| {
        if earlier.is_empty() {
            Reply {
                status: 500,
                headers: Vec::new(),
                gate: Some(gate.clone()),
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    add_endpoint(
        &db,
        "crm",
        &rx.url("/hook"),
        &["--allow-private", "--types", "call.*"],
    )
    .await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let delivery = delivery_workers(&db, stopping);
    let s = testkit::plan::build(traffic::scenario::YEASTAR_SCENARIOS.len(), 0, 1);
    let events = testkit::plan::flatten(&[s]);
    let first = testkit::plan::Plan {
        events: events.clone(),
        delivery: vec![0],
    };
    let rest = testkit::plan::Plan {
        delivery: (1..events.len()).collect(),
        events,
    };
    let hand_off = vec![delivery.hand_off.clone()];
    produce_with(&db, "unused", "ds", &first, hand_off.clone()).await;
    testkit::wait_until(
        Duration::from_secs(10),
        "the first event in flight",
        || async { Ok(!rx.on("/hook").is_empty()) },
    )
    .await
    .expect("sent");
    // One worker, so that every batch is this process's.
    produce_with(&db, "unused", "ds", &rest, hand_off).await;
    let handed = count(
        &db,
        "SELECT count(*) AS n FROM webhook_deliveries WHERE lessee IS NOT NULL",
    )
    .await;
    let _ = open.send(true);
    settled(&db, "crm").await;
    let _ = stop.send(true);
    drop(delivery.hand_off);
    let _ = delivery.done.await;

    let got: Vec<(String, u16)> = rx
        .on("/hook")
        .iter()
        .map(|r| {
            (
                r.headers["webhook-id"].to_str().expect("id").to_string(),
                r.status,
            )
        })
        .collect();
    let events = support::outbox(&db, "type LIKE 'call.%'")
        .await
        .expect("outbox");
    assert!(
        events.len() >= 3 && handed == events.len() as i64,
        "{handed} of {} handed over",
        events.len()
    );
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let sent: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got[0].1, 500);
    assert_eq!(sent[0], ids[0]);
    // The first one again (delivered), then the rest in order, once each.
    assert_eq!(&sent[1..], &ids[..], "sent in order, behind the retry");
}

async fn order_case(hand_over: bool) {
    let db = TestDb::new().await.expect("db");
    db.add_source("ys", "yeastar", &["s"])
        .await
        .expect("source");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    // The first attempt of about every third event fails (every fifth
    // with the hand-over, and only after ten requests: an endpoint whose
    // last attempt failed gets nothing handed over until it answers again,
    // so the hand-over must have its start): retries must not let a later
    // event of its call overtake it.
    let (every, healthy_first) = if hand_over { (5, 10) } else { (3, 0) };
    let rx = Receiver::start(move |_, headers, earlier| {
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let seen = earlier
            .iter()
            .any(|r| r.headers.get("webhook-id").and_then(|v| v.to_str().ok()) == Some(id));
        let unlucky =
            earlier.len() >= healthy_first && id.bytes().map(u32::from).sum::<u32>() % every == 0;
        Reply::status(if !seen && unlucky { 500 } else { 200 })
    })
    .await;
    let secret = add_endpoint(&db, "crm", &rx.url("/hook"), &["--allow-private"]).await;
    let mut plan = a_plan(8, 1);
    for extra in 0..6 {
        // More calls, same ids space: a bigger run.
        let more = a_plan(8, 100 + extra * 100);
        let base = plan.events.len();
        plan.events.extend(more.events);
        plan.delivery
            .extend(more.delivery.into_iter().map(|k| k + base));
    }
    fastrand::seed(7);
    fastrand::shuffle(&mut plan.delivery);
    if hand_over {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let processes: Vec<_> = (0..3)
            .map(|_| delivery_workers(&db, stopping.clone()))
            .collect();
        let hand_offs = processes.iter().map(|p| p.hand_off.clone()).collect();
        produce_with(&db, "ys", "ds", &plan, hand_offs).await;
        settled(&db, "crm").await;
        // A handed-over delivery keeps its lessee (a claim clears it).
        let handed = count(
            &db,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE lessee IS NOT NULL",
        )
        .await;
        let claimed = count(
            &db,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE lessee IS NULL",
        )
        .await;
        eprintln!("hand-over: {handed} deliveries last sent as handed over, {claimed} claimed");
        assert!(handed > 0 && claimed > 0, "both paths taken");
        let _ = stop.send(true);
        for p in processes {
            drop(p.hand_off);
            let _ = p.done.await;
        }
    } else {
        let (stop, task) = deliverer(&db, args());
        produce(&db, "ys", "ds", &plan).await;
        settled(&db, "crm").await;
        let _ = stop.send(());
        let _ = task.await;
    }

    let events = support::outbox(&db, "true").await.expect("outbox");
    let wh = standardwebhooks::Webhook::new(&secret).expect("secret");
    let got = rx.on("/hook");
    // Every delivery verifies; every event is delivered (2xx) exactly once.
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        wh.verify(&r.body, &r.headers)
            .expect("a delivery verifies with standardwebhooks");
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
        let id = r.headers["webhook-id"].to_str().expect("id").to_string();
        assert_eq!(
            body["data"]["id"],
            serde_json::json!(id),
            "webhook-id is the event id"
        );
        assert!(body["type"].is_string() && body["timestamp"].is_string());
        if r.status == 200 {
            *delivered.entry(id).or_default() += 1;
        }
    }
    let ids: BTreeSet<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(
        delivered.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "every event delivered"
    );
    assert!(delivered.values().all(|n| *n == 1), "each delivered once");
    // Per subject: no event is sent before every earlier one of its
    // subject was delivered.
    let position: BTreeMap<&str, (&str, usize)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.event_id.as_str(), (e.subject.as_str(), i)))
        .collect();
    let mut done: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    let mut retried = 0;
    for r in &got {
        let id = r.headers["webhook-id"].to_str().expect("id");
        let (subject, i) = position[id];
        let before: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(j, e)| *j < i && e.subject == subject)
            .map(|(j, _)| j)
            .collect();
        let d = done.entry(subject).or_default();
        assert!(
            before.iter().all(|j| d.contains(j)),
            "{id} of {subject} sent before an earlier event was delivered"
        );
        if r.status == 200 {
            d.insert(i);
        } else {
            retried += 1;
        }
    }
    let calls = events
        .iter()
        .filter(|e| e.subject.starts_with("call:"))
        .map(|e| &e.subject)
        .collect::<BTreeSet<_>>()
        .len();
    eprintln!(
        "deliveries (hand-over {hand_over}): {} events of {calls} calls delivered once each, in order per subject, {retried} first attempts failed and retried; {} requests verified by standardwebhooks",
        events.len(),
        got.len()
    );
    assert!(retried > 0 && calls > 5);
}

fn gaps(got: &[super::receiver::Received]) -> Vec<Duration> {
    got.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_back_off_honour_retry_after_and_410_disables_the_endpoint() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let rx = Receiver::start(|path, _, earlier| {
        let n = earlier.iter().filter(|r| r.path == path).count();
        match (path, n) {
            ("/flaky", 0..=2) => Reply::status(500),
            ("/busy", 0) => Reply {
                status: 429,
                headers: vec![("retry-after", "2".into())],
                gate: None,
            },
            ("/gone", _) => Reply::status(410),
            _ => Reply::status(200),
        }
    })
    .await;
    for name in ["flaky", "busy", "gone"] {
        let url = rx.url(&format!("/{name}"));
        add_endpoint(
            &db,
            name,
            &url,
            &["--allow-private", "--types", "call.ringing"],
        )
        .await;
    }
    let (stop, task) = deliverer(&db, args());
    one_call(&db, "ds", 1).await;
    settled(&db, "flaky").await;
    settled(&db, "busy").await;
    testkit::wait_until(Duration::from_secs(30), "gone disabled", || async {
        Ok(db
            .count(
                "SELECT count(*) AS n FROM webhook_endpoints WHERE name = 'gone' AND NOT enabled",
            )
            .await?
            == 1)
    })
    .await
    .expect("410 disables");
    let _ = stop.send(());
    let _ = task.await;

    // Backoff: 20 ms, then 60 ms, then 180 ms (each -20 % at least).
    let flaky = rx.on("/flaky");
    assert_eq!(
        flaky.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let g = gaps(&flaky);
    for (gap, least) in g.iter().zip([16, 48, 144]) {
        assert!(*gap >= Duration::from_millis(least), "gaps {g:?}");
    }
    // Retry-After: 2 (the backoff alone would retry after 20 ms).
    let busy = rx.on("/busy");
    assert_eq!(
        busy.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    assert!(
        gaps(&busy)[0] >= Duration::from_secs(2),
        "{:?}",
        gaps(&busy)
    );
    // 410: one attempt, the endpoint disabled with the reason, the delivery
    // kept pending for when it is enabled again.
    assert_eq!(rx.on("/gone").len(), 1);
    let reason = count(&db, "SELECT count(*) AS n FROM webhook_endpoints WHERE name = 'gone' AND disabled_reason LIKE '%410%'").await;
    assert_eq!(reason, 1);
    let list = testkit::worker_ok(&db.url, &["endpoint", "list"])
        .await
        .expect("list");
    assert!(
        list.contains("gone") && list.contains("disabled (the endpoint answered 410 Gone)"),
        "{list}"
    );
    let attempts = count(&db, "SELECT max(attempts)::int8 AS n FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.name = 'flaky'").await;
    assert_eq!(attempts, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_endpoint_does_not_hold_up_a_fast_one() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let (open, rx) = Receiver::gated("/slow").await;
    add_endpoint(&db, "slow", &rx.url("/slow"), &["--allow-private"]).await;
    add_endpoint(&db, "fast", &rx.url("/fast"), &["--allow-private"]).await;
    let (stop, task) = deliverer(&db, args());
    for n in 1..=6 {
        one_call(&db, "ds", n).await;
    }
    // Every fast delivery arrives while the slow endpoint answers nothing.
    settled(&db, "fast").await;
    let total = count(&db, "SELECT count(*) AS n FROM outbox").await;
    let slow_now = rx.on("/slow").len();
    assert_eq!(rx.on("/fast").len() as i64, total);
    assert!(
        slow_now as i64 <= 4,
        "the slow endpoint holds at most --per-endpoint: {slow_now}"
    );
    let _ = open.send(true);
    settled(&db, "slow").await;
    assert_eq!(rx.on("/slow").len() as i64, total);
    let _ = stop.send(());
    let _ = task.await;
    eprintln!("slow endpoint: {total} events reached the fast endpoint while the slow one held {slow_now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ssrf_refuses_internal_addresses_unless_allowed() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://[::1]:9/hook",
        "ftp://example.com/",
    ] {
        let (code, _, err) = testkit::worker_cli(&db.url, &["endpoint", "add", "x", "--url", url])
            .await
            .expect("runs");
        assert_ne!(code, 0, "{url} accepted");
        assert!(
            err.contains("refused") || err.contains("http(s)"),
            "{url}: {err}"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM webhook_endpoints").await,
        0
    );
    // Added with --allow-private, then switched off behind its back: the
    // delivery worker refuses to connect (the receiver sees nothing).
    let rx = Receiver::start(|_, _, _| Reply::status(200)).await;
    add_endpoint(&db, "internal", &rx.url("/x"), &["--allow-private"]).await;
    db.exec("UPDATE webhook_endpoints SET allow_private = false")
        .await
        .expect("update");
    let (stop, task) = deliverer(&db, args());
    one_call(&db, "ds", 1).await;
    testkit::wait_until(Duration::from_secs(30), "refused attempts", || async {
        Ok(db.count("SELECT count(*) AS n FROM webhook_deliveries WHERE attempts > 1 AND last_error LIKE '%loopback%'").await? > 0)
    })
    .await
    .expect("refused");
    let _ = stop.send(());
    let _ = task.await;
    assert!(rx.on("/x").is_empty());
    // Unknown types and sources are refused too.
    for extra in [["--types", "call.rang"], ["--source", "nope"]] {
        let mut a = vec![
            "endpoint",
            "add",
            "y",
            "--url",
            "http://127.0.0.1:9/",
            "--allow-private",
        ];
        a.extend_from_slice(&extra);
        let (code, _, err) = testkit::worker_cli(&db.url, &a).await.expect("runs");
        assert_ne!(code, 0, "{extra:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_secret_signs_beside_the_old_one() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let rx = Receiver::start(|_, _, _| Reply::status(200)).await;
    let old = add_endpoint(
        &db,
        "crm",
        &rx.url("/h"),
        &["--allow-private", "--types", "call.ended"],
    )
    .await;
    let new = testkit::worker_ok(&db.url, &["endpoint", "rotate-secret", "crm"])
        .await
        .expect("rotate")
        .trim()
        .to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let (stop, task) = deliverer(&db, args());
    one_call(&db, "ds", 1).await;
    settled(&db, "crm").await;
    let got = rx.on("/h");
    assert_eq!(got.len(), 1);
    for s in [&old, &new] {
        standardwebhooks::Webhook::new(s)
            .expect("secret")
            .verify(&got[0].body, &got[0].headers)
            .expect("verifies");
    }
    // Past the overlap, only the new one signs.
    db.exec("UPDATE webhook_endpoints SET previous_until = now() - interval '1 s'")
        .await
        .expect("expire");
    one_call(&db, "ds", 2).await;
    settled(&db, "crm").await;
    let got = rx.on("/h");
    assert_eq!(got.len(), 2);
    assert!(standardwebhooks::Webhook::new(&old)
        .expect("secret")
        .verify(&got[1].body, &got[1].headers)
        .is_err());
    standardwebhooks::Webhook::new(&new)
        .expect("secret")
        .verify(&got[1].body, &got[1].headers)
        .expect("new verifies");
    // disable / enable / remove.
    for cmd in ["disable", "enable", "remove"] {
        testkit::worker_ok(&db.url, &["endpoint", cmd, "crm"])
            .await
            .expect(cmd);
    }
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM webhook_endpoints").await,
        0
    );
    let _ = stop.send(());
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_up_deliveries_are_recovered_and_one_event_resent() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let u = up.clone();
    let rx = Receiver::start(move |_, _, _| {
        Reply::status(if u.load(std::sync::atomic::Ordering::SeqCst) {
            200
        } else {
            500
        })
    })
    .await;
    add_endpoint(
        &db,
        "crm",
        &rx.url("/h"),
        &["--allow-private", "--types", "call.ringing,call.ended"],
    )
    .await;
    let since = chrono::Utc::now().to_rfc3339();
    // Retried for 300 ms only: given up.
    let (stop, task) = deliverer(
        &db,
        DeliverArgs {
            retry_for: Duration::from_millis(300),
            ..args()
        },
    );
    one_call(&db, "ds", 1).await;
    settled(&db, "crm").await;
    let failed = "SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'failed'";
    assert_eq!(count(&db, failed).await, 2, "both given up");
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = testkit::worker_ok(&db.url, &["endpoint", "recover", "crm", "--since", &since])
        .await
        .expect("recover");
    assert!(out.contains("2 given-up deliveries"), "{out}");
    settled(&db, "crm").await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'delivered'"
        )
        .await,
        2
    );
    let ok_before = rx.on("/h").iter().filter(|r| r.status == 200).count();
    assert_eq!(ok_before, 2);
    // Resend one delivered event.
    let events = support::outbox(&db, "type = 'call.ended'")
        .await
        .expect("outbox");
    testkit::worker_ok(&db.url, &["endpoint", "resend", "crm", &events[0].event_id])
        .await
        .expect("resend");
    settled(&db, "crm").await;
    let got = rx.on("/h");
    let last = got.last().expect("a request");
    assert_eq!(last.status, 200);
    assert_eq!(
        last.headers["webhook-id"].to_str().expect("id"),
        events[0].event_id
    );
    assert_eq!(got.iter().filter(|r| r.status == 200).count(), 3);
    let _ = stop.send(());
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_failing_for_days_is_disabled() {
    let db = TestDb::new().await.expect("db");
    let rx = Receiver::start(|_, _, _| Reply::status(500)).await;
    add_endpoint(&db, "old", &rx.url("/h"), &["--allow-private"]).await;
    add_endpoint(&db, "new", &rx.url("/h"), &["--allow-private"]).await;
    db.exec(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE name = 'old'",
    )
    .await
    .expect("age");
    db.exec(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '4 days' WHERE name = 'new'",
    )
    .await
    .expect("age");
    let (stop, task) = deliverer(&db, args());
    testkit::wait_until(Duration::from_secs(30), "old disabled", || async {
        Ok(db.count("SELECT count(*) AS n FROM webhook_endpoints WHERE NOT enabled AND disabled_reason LIKE 'failing since %'").await? == 1)
    })
    .await
    .expect("disabled after 5 days");
    let _ = stop.send(());
    let _ = task.await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM webhook_endpoints WHERE name = 'new' AND enabled"
        )
        .await,
        1
    );
}

/// `worker run --deliver` (the service as the binary runs it): a call's
/// deliveries go out as its batches commit; asked to stop while its
/// endpoint holds an attempt, it lets that attempt finish and records it,
/// and gives the rest back (nothing stays leased to the stopped process,
/// nothing answered goes unrecorded).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_run_with_deliver_sends_on_commit_and_records_what_was_in_flight_on_stop() {
    let db = TestDb::new().await.expect("db");
    db.add_source("ds", "dialpad", &[]).await.expect("source");
    let (open, rx) = Receiver::gated("/hook").await;
    add_endpoint(&db, "crm", &rx.url("/hook"), &["--allow-private"]).await;
    let mut run = worker::service::RunArgs::default();
    run.config.poll_interval = Duration::from_millis(20);
    run.deliver = true;
    let keys = testkit::test_keyring().expect("keyring");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = db.url.clone();
    let service = tokio::spawn(async move {
        worker::service::run(&url, &run, Some((args(), keys)), async {
            let _ = stopped.await;
        })
        .await
    });
    let s = testkit::plan::build(traffic::scenario::YEASTAR_SCENARIOS.len(), 0, 1);
    let rows: Vec<(&str, String, Vec<u8>)> = testkit::plan::flatten(&[s])
        .into_iter()
        .enumerate()
        .map(|(k, e)| ("ds", format!("svc-{k}"), e.body))
        .collect();
    db.insert_events(&rows).await.expect("insert");
    let n = rows.len() as i64;
    testkit::wait_until(
        Duration::from_secs(30),
        "processed, one in flight",
        || async {
            Ok(db
                .count("SELECT count(*) AS n FROM webhook_events WHERE processed_at IS NOT NULL")
                .await?
                == n
                && !rx.on("/hook").is_empty())
        },
    )
    .await
    .expect("sent on commit");
    // Asked to stop while the endpoint holds the attempt: the attempt
    // ends, answered, and is recorded; the call's later deliveries, which
    // waited behind it, are given back.
    stop.send(()).expect("the service waits for the stop");
    let _ = open.send(true);
    let outcome = tokio::time::timeout(Duration::from_secs(30), service)
        .await
        .expect("stopped in time")
        .expect("joined");
    assert!(outcome.is_ok(), "{outcome:?}");
    let delivered = count(
        &db,
        "SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'delivered'",
    )
    .await;
    let held = count(
        &db,
        "SELECT count(*) AS n FROM webhook_deliveries WHERE leased_until > now()",
    )
    .await;
    let received = rx.on("/hook").iter().filter(|r| r.status == 200).count() as i64;
    assert!(delivered >= 1, "the attempt in flight was recorded");
    assert_eq!(delivered, received, "each answered attempt recorded");
    assert_eq!(held, 0, "nothing left leased to the stopped process");
}
