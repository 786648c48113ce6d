//! What the delivery tests share: fast retry settings, a delivery worker
//! in the test's process, endpoints, webhooks made into events by three
//! workers, and waits on the deliveries.

use std::time::Duration;

use domain::Provider;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use testkit::plan::{self, Plan};
use testkit::TestDb;
use tokio::sync::oneshot;
use worker::deliver::DeliverArgs;

/// Fast retries for tests.
pub fn args() -> DeliverArgs {
    DeliverArgs {
        concurrency: 8,
        per_endpoint: 4,
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        ..DeliverArgs::default()
    }
}

/// A delivery worker in this process until the sender is dropped or used.
pub fn deliverer(
    db: &TestDb,
    args: DeliverArgs,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let url = db.url.clone();
    let task = tokio::spawn(async move {
        let keys = testkit::test_keyring().expect("keyring");
        let _ = worker::deliver::run(&url, &args, keys, async {
            let _ = stopped.await;
        })
        .await;
    });
    (stop, task)
}

/// The delivery workers of one `worker run --deliver` process, in this
/// process (their hand-off for a worker's batches), until `stopping`.
pub fn delivery_workers(
    db: &TestDb,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> worker::deliver::Delivery {
    let keys = testkit::test_keyring().expect("keyring");
    worker::deliver::start(&db.url, &args(), store::Upstream::Direct, keys, stopping)
        .expect("delivery workers")
}

/// `worker endpoint add NAME --url URL ARGS...`; returns the secret.
pub async fn add_endpoint(db: &TestDb, name: &str, url: &str, extra: &[&str]) -> String {
    let mut a = vec!["endpoint", "add", name, "--url", url];
    a.extend_from_slice(extra);
    testkit::worker_ok(&db.url, &a)
        .await
        .expect("endpoint add")
        .trim()
        .to_string()
}

/// Puts the plan's webhooks of sources `ys` / `ds` in the inbox and drains
/// it with three concurrent workers.
pub async fn produce(db: &TestDb, ys: &str, ds: &str, plan: &Plan) {
    produce_with(db, ys, ds, plan, Vec::new()).await
}

/// The same, the workers handing their deliveries over to `hand_offs`
/// (one each, as three `worker run --deliver` processes; none: claimed).
pub async fn produce_with(
    db: &TestDb,
    ys: &str,
    ds: &str,
    plan: &Plan,
    hand_offs: Vec<worker::deliver::HandOff>,
) {
    static BATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let batch = BATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let rows: Vec<(&str, String, Vec<u8>)> = plan
        .delivery
        .iter()
        .enumerate()
        .map(|(copy, k)| {
            let e = &plan.events[*k];
            let s = if e.provider == Provider::Yeastar {
                ys
            } else {
                ds
            };
            (s, format!("k{k}-{copy}-{batch}"), e.body.clone())
        })
        .collect();
    db.insert_events(&rows).await.expect("insert");
    let mut tasks = Vec::new();
    for w in 0..3 {
        let pool = store::pool(&db.url, 1, Duration::from_secs(10)).expect("pool");
        let cfg = worker::WorkerConfig {
            batch_size: 1 + w,
            ..Default::default()
        };
        // With hand-offs, one worker per hand-off.
        if w as usize >= hand_offs.len() && !hand_offs.is_empty() {
            break;
        }
        let hand_off = hand_offs.get(w as usize).cloned();
        tasks.push(tokio::spawn(async move {
            worker::Worker::new(pool, cfg)
                .with_hand_off(hand_off)
                .drain()
                .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("drain");
    }
}

pub async fn count(db: &TestDb, sql: &str) -> i64 {
    db.count(sql).await.expect("count")
}

/// Waits until no delivery of endpoint `name` is pending.
pub async fn settled(db: &TestDb, name: &str) {
    let sql = format!(
        "SELECT count(*) AS n FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE e.name = '{name}' AND d.state = 'pending'"
    );
    testkit::wait_until(Duration::from_secs(60), "deliveries settle", || {
        let sql = sql.clone();
        async move { Ok(db.count(&sql).await? == 0) }
    })
    .await
    .expect("settled");
}

pub fn a_plan(seed_calls: usize, first: u64) -> Plan {
    let mut runner = TestRunner::deterministic();
    plan::plans(seed_calls, first)
        .new_tree(&mut runner)
        .expect("plan")
        .current()
}

/// One Dialpad call's webhooks, in order, from source `ds`, applied.
pub async fn one_call(db: &TestDb, ds: &str, n: u64) {
    let s = plan::build(traffic::scenario::YEASTAR_SCENARIOS.len(), 0, n);
    let events = plan::flatten(&[s]);
    let plan = Plan {
        delivery: (0..events.len()).collect(),
        events,
    };
    produce(db, "unused", ds, &plan).await;
}
