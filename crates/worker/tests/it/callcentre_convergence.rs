//! Property, against PostgreSQL: the events of generated call-centre
//! scenarios (queue calls, missed calls and call backs, agents, devices,
//! the PBX's own status) are put in the inbox shuffled and duplicated (each
//! copy its own row, as a redelivery), four concurrent workers drain it,
//! and the stored calls, legs, queues, extensions, agents and missed calls
//! equal the reference processing the stored rows one by one, in order.
//! Yeastar events carry no time of their own: their order is their arrival
//! (the row's id and time), which the reference uses too; Dialpad's are
//! their `event_timestamp`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use domain::Provider;
use proptest::test_runner::{Config, TestRunner};
use testkit::plan::{self, Plan};
use testkit::reference::Projection;
use testkit::snapshot::Snapshot;
use testkit::{Counter, TestDb};
use worker::{Worker, WorkerConfig};

async fn run_case(
    db: &TestDb,
    case: usize,
    plan: &Plan,
) -> anyhow::Result<[(Snapshot, Snapshot); 2]> {
    let (ys, ds) = (format!("cy{case}"), format!("cd{case}"));
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
    let mut tasks = Vec::new();
    for w in 0..4 {
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
    let ours = format!("source IN ('{ys}', '{ds}')");
    let pending = db.count_where(Counter::Pending, &ours).await?;
    anyhow::ensure!(pending == 0, "{pending} events left pending");
    let dead = db.count_where(Counter::Failed, &ours).await?;
    anyhow::ensure!(dead == 0, "{dead} events failed");
    let mut conn = db.conn().await?;
    let mut out = Vec::new();
    for (source, provider) in [(&ys, Provider::Yeastar), (&ds, Provider::Dialpad)] {
        let want = Snapshot::of_projection(
            &Projection::of_stored(&mut conn, source, provider).await?,
            true,
        );
        let got = Snapshot::of_database(&mut conn, source, true).await?;
        out.push((want, got));
    }
    let [y, d]: [(Snapshot, Snapshot); 2] =
        out.try_into().map_err(|_| anyhow::anyhow!("two sources"))?;
    Ok([y, d])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_converge_on_the_call_centre_state() {
    let db = TestDb::new().await.expect("db");
    let mut runner = TestRunner::new(Config {
        cases: 60,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&plan::callcentre_plans(6, 1), |plan| {
        let case = ran.fetch_add(1, Ordering::Relaxed);
        let [(want_y, got_y), (want_d, got_d)] =
            tokio::task::block_in_place(|| handle.block_on(run_case(&db, case, &plan)))
                .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:#}")))?;
        proptest::prop_assert_eq!(want_y, got_y);
        proptest::prop_assert_eq!(want_d, got_d);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "convergence (call centre, PostgreSQL, 4 workers): {} cases",
        AtomicUsize::load(&ran, Ordering::Relaxed)
    );
}
