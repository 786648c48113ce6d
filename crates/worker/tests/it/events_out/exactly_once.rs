//! Property, against PostgreSQL: the events of generated scenarios (calls
//! of both providers, and the call-centre ones: queues, agents, devices)
//! are put in the inbox shuffled and duplicated, three concurrent workers
//! drain it, and the outbox tells each change of the final state exactly
//! once, in order per subject, every event valid against its documented
//! schema. Then every Dialpad event is delivered again, late: nothing
//! changes, so nothing is emitted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use domain::Provider;
use proptest::test_runner::{Config, TestRunner};
use testkit::plan::{self, Plan};
use testkit::TestDb;
use worker::{Worker, WorkerConfig};

use super::support;

async fn drain(db: &TestDb) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for w in 0..3 {
        let pool = store::pool(&db.url, 1, Duration::from_secs(10))?;
        let cfg = WorkerConfig {
            batch_size: 1 + (w as i64 % 3),
            ..Default::default()
        };
        tasks.push(tokio::spawn(
            async move { Worker::new(pool, cfg).drain().await },
        ));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn run_case(db: &TestDb, case: &str, plan: &Plan) -> anyhow::Result<Vec<String>> {
    let (ys, ds) = (format!("oy{case}"), format!("od{case}"));
    db.add_source(&ys, "yeastar", &["s"]).await?;
    db.add_source(&ds, "dialpad", &[]).await?;
    let source = |p: Provider| if p == Provider::Yeastar { &ys } else { &ds };
    let rows: Vec<(&str, String, Vec<u8>)> = plan
        .delivery
        .iter()
        .enumerate()
        .map(|(copy, k)| {
            let e = &plan.events[*k];
            (
                source(e.provider).as_str(),
                format!("k{k}-{copy}"),
                e.body.clone(),
            )
        })
        .collect();
    db.insert_events(&rows).await?;
    drain(db).await?;
    let ours = format!("source IN ('{ys}', '{ds}')");
    let events = support::outbox(db, &ours).await?;
    let finals = support::finals(db, &ours).await?;
    let mut wrong = support::schema_violations(&events, &support::schemas());
    wrong.extend(support::history_violations(&events, &finals));
    // A plan may change nothing that is told: no state at all, or only
    // extensions at the status a new one has ('online': devices that
    // registered and logged out in an order that never left it). One that
    // left other state must have told it.
    let told = finals
        .iter()
        .filter(|(s, f)| {
            !(s.starts_with("extension:") && f.as_deref() == Some(support::NEW_EXTENSION_STATUS))
        })
        .count();
    anyhow::ensure!(
        !events.is_empty() || told == 0,
        "no events at all, with {} subjects in the final state: {finals:?}",
        finals.len()
    );

    // Late duplicates of every Dialpad event (they carry their own times,
    // so they change nothing): no event.
    let late: Vec<(&str, String, Vec<u8>)> = plan
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.provider == Provider::Dialpad)
        .map(|(k, e)| (ds.as_str(), format!("late{k}"), e.body.clone()))
        .collect();
    db.insert_events(&late).await?;
    drain(db).await?;
    let dialpad = format!("source = '{ds}'");
    let before = events
        .iter()
        .filter(|r| r.subject.contains(&format!(":{ds}:")))
        .count();
    let after = support::outbox(db, &dialpad).await?.len();
    if after != before {
        wrong.push(format!("late duplicates emitted {} events", after - before));
    }
    Ok(wrong)
}

fn run(plans: impl proptest::strategy::Strategy<Value = Plan>, name: &str, cases: u32) {
    let handle = tokio::runtime::Handle::current();
    let db = tokio::task::block_in_place(|| handle.block_on(TestDb::new())).expect("db");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 32,
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let result = runner.run(&plans, |plan| {
        let case = format!("{name}{}", ran.fetch_add(1, Ordering::Relaxed));
        let wrong = tokio::task::block_in_place(|| handle.block_on(run_case(&db, &case, &plan)))
            .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:#}")))?;
        proptest::prop_assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "events out ({name}, 3 workers): {} shuffled and duplicated cases, one event per change",
        ran.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_emit_one_event_per_change_under_shuffles_and_duplicates() {
    run(plan::plans(4, 1), "c", 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_centres_emit_one_event_per_change_under_shuffles_and_duplicates() {
    run(plan::callcentre_plans(4, 1), "q", 30);
}
