//! Outage: PostgreSQL is stopped (as by a crash) and restarted while ingest
//! is under load. During the outage ingest answers 503, never 2xx for an
//! event it did not commit; afterwards ingest and workers recover without a
//! restart, and every acknowledged event is stored and processed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::Value;
use testkit::cluster::TempCluster;
use testkit::{start_worker, wait_until, Ingest};
use traffic::scenario::{self, Member};

const SECRET: &str = "outage-secret-0123456789abcdef01";

#[derive(Default)]
struct Tally {
    /// (event id, dedup key) of every 200.
    acked: Mutex<Vec<(i64, String)>>,
    unavailable: AtomicUsize,
    transport_errors: AtomicUsize,
    other: AtomicUsize,
    sent: AtomicUsize,
    acked_after_restart: AtomicUsize,
    unavailable_in_outage: AtomicUsize,
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(url: &str, sql: &str) -> anyhow::Result<i64> {
    use diesel_async::RunQueryDsl;
    let mut c = AsyncPgConnection::establish(url).await?;
    Ok(diesel::sql_query(sql).get_result::<N>(&mut c).await?.n)
}

async fn add_source(url: &str) -> anyhow::Result<()> {
    use diesel_async::RunQueryDsl;
    let mut c = AsyncPgConnection::establish(url).await?;
    diesel::sql_query("INSERT INTO sources (name, provider) VALUES ('pbx', 'yeastar')")
        .execute(&mut c)
        .await?;
    diesel::sql_query("INSERT INTO source_secrets (source, secret) VALUES ('pbx', $1)")
        .bind::<Text, _>(SECRET)
        .execute(&mut c)
        .await?;
    Ok(())
}

/// How many of the acknowledged (id, dedup key) pairs are stored and processed.
async fn found_processed(url: &str, acked: &[(i64, String)]) -> anyhow::Result<i64> {
    use diesel_async::RunQueryDsl;
    let ids: Vec<i64> = acked.iter().map(|(id, _)| *id).collect();
    let keys: Vec<&str> = acked.iter().map(|(_, k)| k.as_str()).collect();
    let mut c = AsyncPgConnection::establish(url).await?;
    Ok(diesel::sql_query(
        "SELECT count(*) AS n FROM webhook_events w
         JOIN unnest($1::int8[], $2::text[]) AS a(id, key) ON w.id = a.id AND w.dedup_key = a.key
         WHERE w.processed_at IS NOT NULL",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<Text>, _>(&keys)
    .get_result::<N>(&mut c)
    .await?
    .n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_loses_no_acknowledged_event() {
    let cluster = TempCluster::start().expect("a PostgreSQL server of the test's own");
    cluster.create_db("switchboard").expect("createdb");
    let url = cluster.url("switchboard");
    store::migrate(&url).await.expect("migrate");
    add_source(&url).await.expect("source");
    testkit::audit_completions(&url).await.expect("audit");
    let ingest = Ingest::start(&url, &["--db-timeout", "1s"])
        .await
        .expect("ingest");
    let _w1 = start_worker(&url, &[]).expect("worker 1");
    let _w2 = start_worker(&url, &[]).expect("worker 2");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let outage = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for task in 0..8 {
        let (tally, stop, outage, restarted) = (
            tally.clone(),
            stop.clone(),
            outage.clone(),
            restarted.clone(),
        );
        let mut client = ingest.client();
        senders.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                i += 1;
                let call = format!("{task}.{i}");
                let body = scenario::yeastar_snapshot(
                    30011,
                    &call,
                    &[
                        Member::Trunk("inbound", "+15550001", "2001", "ALERT"),
                        Member::Ext("2001", "RING"),
                    ],
                );
                let req = scenario::sign_yeastar(SECRET, &body);
                tally.sent.fetch_add(1, Ordering::Relaxed);
                match client
                    .request("POST", "/webhooks/pbx", &req.headers, &req.body)
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                        let id = v["id"].as_i64().unwrap_or(-1);
                        let key = domain::signature::dedup_key(
                            domain::Provider::Yeastar,
                            &Default::default(),
                            &body,
                        );
                        tally
                            .acked
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((id, key));
                        if restarted.load(Ordering::Relaxed) {
                            tally.acked_after_restart.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(r) if r.status == 503 => {
                        tally.unavailable.fetch_add(1, Ordering::Relaxed);
                        if outage.load(Ordering::Relaxed) {
                            tally.unavailable_in_outage.fetch_add(1, Ordering::Relaxed);
                        }
                        // A sender backs off before retrying.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Ok(_) => {
                        tally.other.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        tally.transport_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    // Load, then the outage, then recovery.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_before = tally.acked.lock().map(|a| a.len()).unwrap_or(0);
    outage.store(true, Ordering::Relaxed);
    let down_at = Instant::now();
    cluster.pg_stop("immediate").expect("stop PostgreSQL");
    wait_until(Duration::from_secs(20), "ingest to answer 503", || async {
        Ok(tally.unavailable_in_outage.load(Ordering::Relaxed) > 0)
    })
    .await
    .expect("503 during the outage");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_during = tally.acked.lock().map(|a| a.len()).unwrap_or(0);
    cluster.pg_start().expect("start PostgreSQL");
    let outage_secs = down_at.elapsed().as_secs_f64();
    outage.store(false, Ordering::Relaxed);
    restarted.store(true, Ordering::Relaxed);
    wait_until(
        Duration::from_secs(60),
        "ingest to accept again",
        || async { Ok(tally.acked_after_restart.load(Ordering::Relaxed) > 100) },
    )
    .await
    .expect("ingest recovered without a restart");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.expect("sender");
    }

    let acked: Vec<(i64, String)> = tally.acked.lock().map(|a| a.clone()).unwrap_or_default();
    wait_until(
        Duration::from_secs(120),
        "workers to process every stored event",
        || async {
            Ok(count(
                &url,
                "SELECT count(*) AS n FROM webhook_events WHERE processed_at IS NULL",
            )
            .await?
                == 0)
        },
    )
    .await
    .expect("workers recovered and drained");

    let found = found_processed(&url, &acked).await.expect("found");
    let stored = count(&url, "SELECT count(*) AS n FROM webhook_events")
        .await
        .expect("n");
    let processed = count(
        &url,
        "SELECT count(*) AS n FROM webhook_events WHERE processed_at IS NOT NULL",
    )
    .await
    .expect("n");
    let completions = count(
        &url,
        "SELECT count(DISTINCT event_id) AS n FROM completion_audit",
    )
    .await
    .expect("n");
    let applied = count(
        &url,
        "SELECT coalesce(sum(events), 0)::int8 AS n FROM calls",
    )
    .await
    .expect("n");
    let acked_n = acked.len() as i64;
    eprintln!(
        "outage test: PostgreSQL down {outage_secs:.1} s; sent {}, acknowledged {acked_n} \
         ({acked_before} before the outage, {} while it began), 503 {} ({} during the outage), \
         transport errors {}, other {}; stored {stored}, processed {processed}, \
         completions {completions}, applied {applied}, duplicates applied {}, lost {}",
        tally.sent.load(Ordering::Relaxed),
        acked_during - acked_before,
        tally.unavailable.load(Ordering::Relaxed),
        tally.unavailable_in_outage.load(Ordering::Relaxed),
        tally.transport_errors.load(Ordering::Relaxed),
        tally.other.load(Ordering::Relaxed),
        applied - stored,
        acked_n - found,
    );
    assert_eq!(
        tally.other.load(Ordering::Relaxed),
        0,
        "only 200 and 503 answers"
    );
    assert_eq!(
        found, acked_n,
        "every acknowledged event is stored and processed"
    );
    assert!(stored >= acked_n);
    assert_eq!(processed, stored);
    assert_eq!(completions, stored, "each stored event completed once");
    assert_eq!(applied, stored, "each stored event applied once");
    assert!(tally.acked_after_restart.load(Ordering::Relaxed) > 0);
}
