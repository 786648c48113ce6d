//! A database that refuses writes, under load: a read-only server
//! (`default_transaction_read_only`), a full data disk (PostgreSQL stays
//! up and refuses to extend files: 53100), and a full WAL disk (PostgreSQL
//! panics and stops until the space returns). Ingest answers 503, never a
//! 4xx; nothing acknowledged is lost or applied twice; the workers back off
//! without marking events failed; everything resumes by itself once the
//! condition ends (after a full WAL disk, once PostgreSQL is started
//! again); and `/readyz`, `worker stats` and the metrics name the cause.
//!
//! The disks are tmpfs mounts the test makes (root needed, as in CI); where
//! it cannot mount one the test says so and passes without running.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use testkit::cluster::{ClusterConfig, TempCluster};
use testkit::disk::SmallDisk;
use testkit::load::{Load, Tally};
use testkit::{free_port, wait_until, worker_cli, Stack, TestDb};

const SECRET: &str = "refusals-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);

/// A stack on `cluster`'s database, workers with operators' ports.
struct Rig {
    s: Stack,
    url: String,
    worker_admin: Vec<u16>,
}

async fn rig(cluster: &TempCluster) -> Result<Rig> {
    cluster.create_db("switchboard")?;
    let url = cluster.url("switchboard");
    let worker_admin = vec![free_port()?, free_port()?];
    let mut b = Stack::builder()
        .on(TestDb::attach(&url))
        .migrate()
        .audit()
        .yeastar("pbx", SECRET)
        .ingest(&[]);
    for port in &worker_admin {
        b = b.worker(&["--metrics-bind", &format!("127.0.0.1:{port}")]);
    }
    Ok(Rig {
        s: b.start().await?,
        url,
        worker_admin,
    })
}

/// `GET /readyz` on `port`: its status and body.
async fn readyz(port: u16) -> Result<(u16, Value)> {
    let mut c = traffic::Client::new(format!("127.0.0.1:{port}"), Duration::from_secs(10));
    let r = c.request("GET", "/readyz", &[], b"").await?;
    Ok((
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    ))
}

/// Whether a readiness body names `cause` (now, or as what the server
/// reported before).
fn names(body: &Value, cause: &str) -> bool {
    body["cause"] == cause || body["reported"]["cause"] == cause
}

impl Rig {
    /// Ingest's and every worker's `/readyz`.
    async fn readiness(&self) -> Result<Vec<(u16, Value)>> {
        let mut all = vec![readyz(self.s.ingest().admin_port).await?];
        for p in &self.worker_admin {
            all.push(readyz(*p).await?);
        }
        Ok(all)
    }

    /// `worker stats`: its exit code and output.
    async fn stats(&self) -> Result<(i32, String)> {
        let (code, out, err) = worker_cli(&self.url, &["stats"]).await?;
        Ok((code, format!("{out}{err}")))
    }

    /// Waits until ingest's `/readyz` names `cause` and `worker stats`
    /// does too (exit 4: no writes).
    async fn wait_named(&self, cause: &str) -> Result<(Value, String)> {
        let last = RefCell::new((Value::Null, String::new()));
        wait_until(
            WAIT,
            &format!("/readyz and worker stats to name {cause}"),
            || async {
                let (status, body) = readyz(self.s.ingest().admin_port).await?;
                let (code, out) = self.stats().await?;
                let named = status == 503
                    && names(&body, cause)
                    && code == 4
                    && out.contains(&format!("NOT WRITABLE ({cause})"));
                *last.borrow_mut() = (body, out);
                Ok(named)
            },
        )
        .await
        .with_context(|| format!("last seen: {:?}", last.borrow()))?;
        Ok(last.into_inner())
    }

    /// Waits until ingest acknowledged `n` webhooks after `t`; returns the
    /// seconds from `t` to the first of them.
    async fn wait_resumed(&self, tally: &Tally, t: Instant, n: usize) -> Result<f64> {
        wait_until(WAIT, "ingest to acknowledge again", || async {
            Ok(tally.acked_since(t) >= n)
        })
        .await
        .with_context(|| tally.summary())?;
        tally.first_ack_after(t).context("an acknowledgement")
    }

    /// Waits until 503s came since `before` of them.
    async fn wait_503(&self, tally: &Tally, before: usize) -> Result<()> {
        wait_until(WAIT, "ingest to answer 503", || async {
            Ok(tally.count(503) > before)
        })
        .await
        .with_context(|| tally.summary())
    }

    /// After the load: every acknowledged webhook processed once, none
    /// failed; returns (acknowledged, lost, applied twice).
    async fn settle(&self, tally: &Tally) -> Result<(usize, i64, i64)> {
        let db = &self.s.db;
        let c = db
            .wait_counts(WAIT, "the workers to drain the inbox", |c| c.pending == 0)
            .await?;
        let acks = tally.acks();
        let found = db.processed_of(&acks).await?;
        let done = db.completions().await?;
        ensure!(
            c.failed == 0 && c.dead == 0,
            "events marked failed for the database's fault: {c:?}"
        );
        Ok((
            acks.len(),
            acks.len() as i64 - found,
            (done.total - done.events) + (c.call_events - c.events),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_server_gets_503s_names_the_cause_and_resumes() {
    let cluster = TempCluster::start().expect("a server of the test's own");
    let r = rig(&cluster).await.expect("stack");
    let load = Load::start(&[r.s.ingest()], "pbx", SECRET, 4, "ro");
    let tally = load.tally();
    r.wait_resumed(&tally, Instant::now(), 50)
        .await
        .expect("load");

    let before = tally.count(503);
    cluster
        .set("default_transaction_read_only", "on")
        .expect("read-only");
    r.wait_503(&tally, before).await.expect("503s");
    let (body, stats) = r.wait_named("read_only").await.expect("named");
    let workers = r.readiness().await.expect("readiness");
    eprintln!("read-only: ingest /readyz {body}\nworker stats: {stats}");
    for (status, body) in &workers[1..] {
        assert_eq!(
            *status, 503,
            "a worker is not ready on a read-only server: {body}"
        );
        assert!(names(body, "read_only"), "a worker names the cause: {body}");
    }

    cluster
        .set("default_transaction_read_only", "off")
        .expect("writable");
    let back = Instant::now();
    let resumed = r.wait_resumed(&tally, back, 50).await.expect("resumed");
    let tally = load.stop().await;
    let (acked, lost, twice) = r.settle(&tally).await.expect("settled");
    eprintln!(
        "read-only test: acknowledged {acked}, lost {lost}, applied twice {twice}, \
         200s again {resumed:.2} s after writes were allowed; {}",
        tally.summary()
    );
    assert_eq!(lost, 0, "acknowledged webhooks lost");
    assert_eq!(twice, 0, "events applied twice");
    assert_eq!(tally.client_errors(), 0, "no 4xx for valid webhooks");
    assert!(tally.statuses().keys().all(|s| *s == 200 || *s == 503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_gets_503s_names_the_cause_and_resumes_once_space_is_freed() {
    // The disks outlive the server (dropped after it).
    let disks = SmallDisk::mount("data", 192).and_then(|d| Ok((d, SmallDisk::mount("wal", 96)?)));
    let (data, wal) = match disks {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED a_full_disk_...: this machine cannot give the test a small filesystem: {e:#}");
            return;
        }
    };
    let cluster = TempCluster::start_with(ClusterConfig {
        data_in: Some(data.path.clone()),
        wal_in: Some(wal.path.clone()),
        wal_segment_mb: Some(1),
        // Commits write the WAL themselves (the WAL writer waits 10 s):
        // the session whose commit meets the full disk hears why. Old
        // segments are not recycled: a checkpoint's renamed segments would
        // let the WAL go on for a while on a full disk (seen: 60 s of 200s).
        settings: vec!["wal_writer_delay = 10s".into(), "wal_recycle = off".into()],
        ..Default::default()
    })
    .expect("a server with its data and WAL on small disks");
    let r = rig(&cluster).await.expect("stack");
    let load = Load::start(&[r.s.ingest()], "pbx", SECRET, 4, "disk");
    let tally = load.tally();
    r.wait_resumed(&tally, Instant::now(), 50)
        .await
        .expect("load");

    // The data disk fills: PostgreSQL stays up and refuses to extend files.
    let before = tally.count(503);
    data.fill(0).expect("fill the data disk");
    r.wait_503(&tally, before)
        .await
        .expect("503s on a full data disk");
    let (body, stats) = r.wait_named("disk_full").await.expect("named");
    eprintln!("data disk full: ingest /readyz {body}\nworker stats: {stats}");
    data.free().expect("free the data disk");
    let freed = Instant::now();
    let data_resumed = r.wait_resumed(&tally, freed, 50).await.expect("resumed");
    wait_until(WAIT, "ingest ready again", || async {
        Ok(readyz(r.s.ingest().admin_port).await?.0 == 200)
    })
    .await
    .expect("ready again");

    // The WAL disk fills: PostgreSQL panics and stops.
    let before = tally.count(503);
    wal.fill(0).expect("fill the WAL disk");
    r.wait_503(&tally, before)
        .await
        .expect("503s on a full WAL disk");
    wait_until(WAIT, "PostgreSQL to stop", || async {
        Ok(!cluster.is_running())
    })
    .await
    .expect("PostgreSQL stopped");
    // Only a session that received the PANIC can know why the server
    // stopped: when a background process (the WAL writer, the checkpointer)
    // hit the full disk first, every session only sees the crash
    // ("terminating connection", then "starting", then refused), and no
    // binary can name the disk. So the cause is looked for, and what was
    // said is shown, but only the data disk's case (PostgreSQL up and
    // refusing writes, above) must name it.
    let named_by = RefCell::new(Vec::new());
    let named = wait_until(
        Duration::from_secs(10),
        "a binary's /readyz to name disk_full",
        || async {
            let all = r.readiness().await?;
            let named = all
                .iter()
                .any(|(status, body)| *status == 503 && names(body, "disk_full"));
            *named_by.borrow_mut() = all;
            Ok(named)
        },
    )
    .await
    .is_ok();
    eprintln!("WAL disk full: disk_full named by a binary: {named}");
    let named_by = named_by.into_inner();
    let (code, stats) = r.stats().await.expect("stats");
    eprintln!("WAL disk full: /readyz {named_by:?}\nworker stats (exit {code}): {stats}");
    wal.free().expect("free the WAL disk");
    cluster.pg_start().expect("start PostgreSQL again");
    let restarted = Instant::now();
    let wal_resumed = r
        .wait_resumed(&tally, restarted, 50)
        .await
        .expect("resumed");

    let tally = load.stop().await;
    let (acked, lost, twice) = r.settle(&tally).await.expect("settled");
    eprintln!(
        "disk-full test: acknowledged {acked}, lost {lost}, applied twice {twice}; \
         data disk: 200s again {data_resumed:.2} s after the space was freed; \
         WAL disk: 200s again {wal_resumed:.2} s after PostgreSQL started again; {}",
        tally.summary()
    );
    assert_eq!(lost, 0, "acknowledged webhooks lost");
    assert_eq!(twice, 0, "events applied twice");
    assert_eq!(tally.client_errors(), 0, "no 4xx for valid webhooks");
    assert!(tally.statuses().keys().all(|s| *s == 200 || *s == 503));
    drop(r);
    drop(cluster);
}
