//! Outage: PostgreSQL is stopped (as by a crash) and restarted while ingest
//! is under load. During the outage ingest answers 503, never 2xx for an
//! event it did not commit; afterwards ingest and workers recover without a
//! restart, and every acknowledged event is stored and processed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use testkit::cluster::TempCluster;
use testkit::{post_webhook, sign_yeastar, wait_until, Counts, Stack, TestDb};
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

impl Tally {
    fn acked(&self) -> Vec<(i64, String)> {
        self.acked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// The phases the senders see.
#[derive(Default)]
struct Phase {
    stop: AtomicBool,
    outage: AtomicBool,
    restarted: AtomicBool,
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
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

/// One sender: a new call ringing per request, until told to stop (at
/// most 20,000), counting every answer; a 503 or a transport error backs
/// off 20 ms before the next request.
async fn send(task: usize, mut client: traffic::Client, tally: Arc<Tally>, phase: Arc<Phase>) {
    let mut i = 0u64;
    while !phase.stop.load(Ordering::Relaxed) && i < 20_000 {
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
        tally.sent.fetch_add(1, Ordering::Relaxed);
        match post_webhook(&mut client, "pbx", &sign_yeastar(SECRET, &body)).await {
            Ok(p) if p.status == 200 => {
                let key = domain::signature::dedup_key(
                    domain::Provider::Yeastar,
                    &Default::default(),
                    &body,
                );
                tally
                    .acked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((p.id().unwrap_or(-1), key));
                if phase.restarted.load(Ordering::Relaxed) {
                    tally.acked_after_restart.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(p) if p.status == 503 => {
                tally.unavailable.fetch_add(1, Ordering::Relaxed);
                if phase.outage.load(Ordering::Relaxed) {
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
}

/// What a run saw: the senders' tally, and the database once drained.
struct Outage {
    tally: Arc<Tally>,
    /// The acknowledged events found stored and processed.
    found: i64,
    counts: Counts,
    /// Results recorded by the completion audit, per event.
    completions: i64,
}

/// A private server with ingest and two workers (the completion audit
/// installed); 8 senders load ingest for 1.5 s, PostgreSQL is stopped
/// (immediate: a crash) until ingest has answered 503 and 1.5 s more, then
/// started again; once ingest has acknowledged 100 more events the
/// senders stop, and the workers drain the inbox.
async fn run_outage() -> Outage {
    let cluster = TempCluster::start().expect("a PostgreSQL server of the test's own");
    cluster.create_db("switchboard").expect("createdb");
    let url = cluster.url("switchboard");
    let s = Stack::builder()
        .on(TestDb::attach(&url))
        .migrate()
        .audit()
        .yeastar("pbx", SECRET)
        .ingest(&["--db-timeout", "1s"])
        .workers(2, &[])
        .start()
        .await
        .expect("stack");

    let tally = Arc::new(Tally::default());
    let phase = Arc::new(Phase::default());
    let senders: Vec<_> = (0..8)
        .map(|task| {
            tokio::spawn(send(
                task,
                s.ingest().client(),
                tally.clone(),
                phase.clone(),
            ))
        })
        .collect();

    // Load, then the outage, then recovery.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_before = tally.acked().len();
    phase.outage.store(true, Ordering::Relaxed);
    let down_at = Instant::now();
    cluster.pg_stop("immediate").expect("stop PostgreSQL");
    wait_until(Duration::from_secs(20), "ingest to answer 503", || async {
        Ok(tally.unavailable_in_outage.load(Ordering::Relaxed) > 0)
    })
    .await
    .expect("503 during the outage");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_during = tally.acked().len();
    cluster.pg_start().expect("start PostgreSQL");
    let outage_secs = down_at.elapsed().as_secs_f64();
    phase.outage.store(false, Ordering::Relaxed);
    phase.restarted.store(true, Ordering::Relaxed);
    wait_until(
        Duration::from_secs(60),
        "ingest to accept again",
        || async { Ok(tally.acked_after_restart.load(Ordering::Relaxed) > 100) },
    )
    .await
    .expect("ingest recovered without a restart");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    phase.stop.store(true, Ordering::Relaxed);
    for t in senders {
        t.await.expect("sender");
    }

    let counts =
        s.db.wait_counts(
            Duration::from_secs(120),
            "workers to process every stored event",
            |c| c.pending == 0,
        )
        .await
        .expect("workers recovered and drained");
    let acked = tally.acked();
    let found = found_processed(&url, &acked).await.expect("found");
    let completions = s.db.completions().await.expect("audit").events;
    eprintln!(
        "outage test: PostgreSQL down {outage_secs:.1} s; sent {}, acknowledged {} \
         ({acked_before} before the outage, {} while it began), 503 {} ({} during the outage), \
         transport errors {}, other {}; stored {}, processed {}, \
         completions {completions}, applied {}, duplicates applied {}, lost {}",
        tally.sent.load(Ordering::Relaxed),
        acked.len(),
        acked_during - acked_before,
        tally.unavailable.load(Ordering::Relaxed),
        tally.unavailable_in_outage.load(Ordering::Relaxed),
        tally.transport_errors.load(Ordering::Relaxed),
        tally.other.load(Ordering::Relaxed),
        counts.events,
        counts.processed,
        counts.call_events,
        counts.call_events - counts.events,
        acked.len() as i64 - found,
    );
    drop(s);
    drop(cluster);
    Outage {
        tally,
        found,
        counts,
        completions,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_answers_only_200_or_503_through_a_restart_and_recovers_by_itself() {
    let o = run_outage().await;
    assert_eq!(
        o.tally.other.load(Ordering::Relaxed),
        0,
        "only 200 and 503 answers"
    );
    assert!(o.tally.unavailable_in_outage.load(Ordering::Relaxed) > 0);
    assert!(o.tally.acked_after_restart.load(Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_loses_no_acknowledged_event() {
    let o = run_outage().await;
    let acked = o.tally.acked().len() as i64;
    let c = o.counts;
    assert_eq!(
        o.found, acked,
        "every acknowledged event is stored and processed"
    );
    assert!(c.events >= acked);
    assert_eq!(c.processed, c.events);
    assert_eq!(o.completions, c.events, "each stored event completed once");
    assert_eq!(c.call_events, c.events, "each stored event applied once");
}
