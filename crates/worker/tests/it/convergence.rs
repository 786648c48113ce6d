//! Property, against PostgreSQL: events of generated call scenarios are put
//! in the inbox shuffled and duplicated (each duplicate its own row, as a
//! redelivery), four concurrent workers drain it, and the stored calls, legs
//! and extensions equal the in-order reference.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use domain::Provider;
use proptest::test_runner::{Config, TestRunner};
use testkit::plan::{self, Plan};
use testkit::snapshot::Snapshot;
use testkit::{Counter, TestDb};
use worker::{Worker, WorkerConfig};

async fn run_case(
    db: &TestDb,
    case: usize,
    plan: &Plan,
) -> anyhow::Result<(Snapshot, Snapshot, Snapshot, Snapshot, i64)> {
    let (ys, ds) = (format!("y{case}"), format!("d{case}"));
    db.add_source(&ys, "yeastar", &["s"]).await?;
    db.add_source(&ds, "dialpad", &[]).await?;
    let rows: Vec<(&str, String, Vec<u8>)> = plan
        .delivery
        .iter()
        .enumerate()
        .map(|(copy, k)| {
            let e = &plan.events[*k];
            let source = if e.provider == Provider::Yeastar {
                &ys
            } else {
                &ds
            };
            (source.as_str(), format!("k{k}-{copy}"), e.body.clone())
        })
        .collect();
    db.insert_events(&rows).await?;
    let mut conn = db.conn().await?;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let pool = store::pool(&db.url, 1, Duration::from_secs(10))?;
        let cfg = WorkerConfig {
            batch_size: 1 + (w as i64 % 3), // 1, 2, 3, 1: interleave
            ..Default::default()
        };
        tasks.push(tokio::spawn(
            async move { Worker::new(pool, cfg).drain().await },
        ));
    }
    for t in tasks {
        t.await??;
    }
    let ours = format!("source IN ('{ys}', '{ds}')");
    let pending = db.count_where(Counter::Pending, &ours).await?;
    anyhow::ensure!(pending == 0, "{pending} events left pending");
    let counted = db.count_where(Counter::CallEvents, &ours).await?;
    let want_y = Snapshot::of_projection(&plan::reference(&plan.events, Provider::Yeastar), false);
    let want_d = Snapshot::of_projection(&plan::reference(&plan.events, Provider::Dialpad), true);
    let got_y = Snapshot::of_database(&mut conn, &ys, false).await?;
    let got_d = Snapshot::of_database(&mut conn, &ds, true).await?;
    Ok((want_y, got_y, want_d, got_d, counted))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_converge_on_the_in_order_state() {
    let db = TestDb::new().await.expect("db");
    let cases = 100;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let rows = AtomicUsize::new(0);
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&plan::plans(5, 1), |plan| {
        let case = ran.fetch_add(1, Ordering::Relaxed);
        rows.fetch_add(plan.delivery.len(), Ordering::Relaxed);
        let (want_y, got_y, want_d, got_d, counted) =
            tokio::task::block_in_place(|| handle.block_on(run_case(&db, case, &plan)))
                .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:#}")))?;
        proptest::prop_assert_eq!(want_y, got_y);
        proptest::prop_assert_eq!(want_d, got_d);
        // Every inbox row (each is a call event, duplicates included) is
        // applied exactly once: the per-call event counters add up.
        proptest::prop_assert_eq!(counted, plan.delivery.len() as i64);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "convergence (PostgreSQL, 4 workers): {} generated cases passed, {} inbox rows drained",
        ran.load(Ordering::Relaxed),
        rows.load(Ordering::Relaxed)
    );
}
