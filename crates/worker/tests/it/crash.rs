//! Crashes: three `worker run` processes drain 20,000 realistic events while
//! they are killed with SIGKILL over and over; afterwards every event is
//! processed, each exactly once, and the state equals the in-order reference.

use std::time::{Duration, Instant};

use domain::Provider;
use testkit::plan::{self, PlannedEvent};
use testkit::snapshot::Snapshot;
use testkit::{start_worker, Counter, Proc, TestDb};
use traffic::scenario::{DIALPAD_SCENARIOS, YEASTAR_SCENARIOS};

const EVENTS: usize = 20_000;

fn events() -> Vec<PlannedEvent> {
    let kinds = YEASTAR_SCENARIOS.len() + DIALPAD_SCENARIOS.len();
    let mut scenarios = Vec::new();
    let mut total = 0;
    let mut n = 0u64;
    while total < EVENTS {
        let s = plan::build(n as usize % kinds, n as usize % 5, n);
        total += s.steps.len();
        scenarios.push(s);
        n += 1;
    }
    let mut all = plan::flatten(&scenarios);
    all.truncate(EVENTS);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_workers_lose_nothing_and_apply_nothing_twice() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    db.add_source("dp", "dialpad", &[]).await.expect("source");
    let events = events();
    let rows: Vec<(&str, String, Vec<u8>)> = events
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let source = if e.provider == Provider::Yeastar {
                "pbx"
            } else {
                "dp"
            };
            (source, format!("k{k}"), e.body.clone())
        })
        .collect();
    db.insert_events(&rows).await.expect("preload");
    db.audit_completions().await.expect("audit");

    let args = ["--batch-size", "100"];
    let mut workers: Vec<Proc> = (0..3)
        .map(|_| start_worker(&db.url, &args).expect("worker"))
        .collect();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let mut kills = 0usize;
    let mut next = 0usize;
    // Kill one worker (SIGKILL, mid-batch) each time another 1,500 events
    // are processed, and start a replacement, as an orchestrator would: the
    // kills spread over the whole drain whatever the machine's speed.
    let mut next_kill_at = 1_500;
    loop {
        let pending = db.count_of(Counter::Pending).await.expect("pending");
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} events still pending after 600 s"
        );
        let processed = EVENTS as i64 - pending;
        if processed >= next_kill_at {
            workers[next].kill().await.expect("SIGKILL");
            workers[next] = start_worker(&db.url, &args).expect("restart");
            kills += 1;
            next = (next + 1) % workers.len();
            next_kill_at = processed + 1_500;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    drop(workers);

    let total = EVENTS as i64;
    let c = db.counts().await.expect("counts");
    let (processed, applied, errors) = (c.processed, c.call_events, c.failed);
    let audit = db.completions().await.expect("audit");
    let (completions, distinct) = (audit.total, audit.events);
    eprintln!(
        "crash test: {total} events, 3 workers, {kills} SIGKILLs in {:.1} s; processed {processed}, \
         completions {completions} ({distinct} distinct), call events applied {applied}, \
         duplicates applied {}, lost {}, errors {errors}",
        elapsed.as_secs_f64(),
        applied - total,
        total - processed,
    );
    assert!(
        kills >= 3,
        "the drain was too quick to kill workers during it ({kills} kills)"
    );
    assert_eq!(processed, total, "nothing lost");
    assert_eq!(
        (completions, distinct),
        (total, total),
        "each event completed once"
    );
    assert_eq!(applied, total, "each event's effect applied once");
    assert_eq!(errors, 0);
    // The state equals processing every event once, in order.
    let want_y = Snapshot::of_projection(&plan::reference(&events, Provider::Yeastar), false);
    let want_d = Snapshot::of_projection(&plan::reference(&events, Provider::Dialpad), true);
    let mut conn = db.conn().await.expect("conn");
    assert_eq!(
        Snapshot::of_database(&mut conn, "pbx", false)
            .await
            .expect("y"),
        want_y
    );
    assert_eq!(
        Snapshot::of_database(&mut conn, "dp", true)
            .await
            .expect("d"),
        want_d
    );
}
