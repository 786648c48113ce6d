//! Senders that load ingest with new calls and tally every answer, with
//! the time of each acknowledgement: what the failure tests count
//! (acknowledged, lost, applied twice) and measure (how long after a fault
//! 200s came back).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use diesel::sql_types::{Array, BigInt, Text};
use tokio::task::JoinHandle;
use traffic::scenario::{self, Member};

use crate::{post_webhook, sign_yeastar, Ingest, TestDb};

/// An acknowledged webhook: the stored event's id, its dedup key, when.
#[derive(Debug, Clone)]
pub struct Ack {
    pub id: i64,
    pub key: String,
    pub at: Instant,
}

/// Every answer the senders got.
#[derive(Default)]
pub struct Tally {
    acks: Mutex<Vec<Ack>>,
    statuses: Mutex<BTreeMap<u16, usize>>,
    transport_errors: AtomicUsize,
    sent: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tally {
    /// The acknowledgements (200s), in the order they came.
    pub fn acks(&self) -> Vec<Ack> {
        lock(&self.acks).clone()
    }

    /// Answers with `status`.
    pub fn count(&self, status: u16) -> usize {
        lock(&self.statuses).get(&status).copied().unwrap_or(0)
    }

    /// Every answer by status.
    pub fn statuses(&self) -> BTreeMap<u16, usize> {
        lock(&self.statuses).clone()
    }

    /// 4xx answers (a valid webhook never deserves one).
    pub fn client_errors(&self) -> usize {
        lock(&self.statuses).range(400..500).map(|(_, n)| n).sum()
    }

    /// Requests that got no HTTP answer.
    pub fn transport_errors(&self) -> usize {
        self.transport_errors.load(Ordering::Relaxed)
    }

    /// Requests sent.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Acknowledgements at or after `t`.
    pub fn acked_since(&self, t: Instant) -> usize {
        lock(&self.acks).iter().filter(|a| a.at >= t).count()
    }

    /// Seconds from `t` to the first acknowledgement at or after it.
    pub fn first_ack_after(&self, t: Instant) -> Option<f64> {
        lock(&self.acks)
            .iter()
            .filter(|a| a.at >= t)
            .map(|a| a.at.duration_since(t).as_secs_f64())
            .reduce(f64::min)
    }

    /// One line: sent, acknowledged, answers by status, transport errors.
    pub fn summary(&self) -> String {
        format!(
            "sent {}, acknowledged {}, answers {:?}, transport errors {}",
            self.sent(),
            lock(&self.acks).len(),
            self.statuses(),
            self.transport_errors()
        )
    }
}

/// Senders at work until [`Load::stop`].
pub struct Load {
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// `senders` tasks, each posting one new Yeastar call ringing per
    /// request (call ids `{tag}.{sender}.{n}`) to `source`, signed with
    /// `secret`, to the `ingests` in turn. A 503 or a transport error waits
    /// 20 ms before the next request, as a sender backs off.
    pub fn start(
        ingests: &[&Ingest],
        source: &str,
        secret: &str,
        senders: usize,
        tag: &str,
    ) -> Load {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let authorities: Vec<String> = ingests.iter().map(|i| i.authority()).collect();
        let tasks = (0..senders)
            .map(|task| {
                let clients: Vec<traffic::Client> = authorities
                    .iter()
                    .map(|a| traffic::Client::new(a.clone(), Duration::from_secs(10)))
                    .collect();
                tokio::spawn(send(
                    Sender {
                        clients,
                        source: source.to_string(),
                        secret: secret.to_string(),
                        call_prefix: format!("{tag}.{task}"),
                    },
                    tally.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        Load { tally, stop, tasks }
    }

    /// The answers so far.
    pub fn tally(&self) -> Arc<Tally> {
        self.tally.clone()
    }

    /// Stops the senders (each finishes its request). Returns the tally.
    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        self.tally
    }
}

struct Sender {
    clients: Vec<traffic::Client>,
    source: String,
    secret: String,
    call_prefix: String,
}

async fn send(mut s: Sender, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let call = format!("{}.{n}", s.call_prefix);
        let body = scenario::yeastar_snapshot(
            30011,
            &call,
            &[
                Member::Trunk("inbound", "+15550001", "2001", "ALERT"),
                Member::Ext("2001", "RING"),
            ],
        );
        tally.sent.fetch_add(1, Ordering::Relaxed);
        let which = (n as usize) % s.clients.len();
        let answer = post_webhook(
            &mut s.clients[which],
            &s.source,
            &sign_yeastar(&s.secret, &body),
        )
        .await;
        match answer {
            Ok(p) => {
                *lock(&tally.statuses).entry(p.status).or_default() += 1;
                if p.status == 200 {
                    let key = domain::signature::dedup_key(
                        domain::Provider::Yeastar,
                        &Default::default(),
                        &body,
                    );
                    lock(&tally.acks).push(Ack {
                        id: p.id().unwrap_or(-1),
                        key,
                        at: Instant::now(),
                    });
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Err(_) => {
                tally.transport_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl TestDb {
    /// How many of `acks` are stored (same id and dedup key) and processed.
    pub async fn processed_of(&self, acks: &[Ack]) -> Result<i64> {
        use diesel_async::RunQueryDsl;
        let ids: Vec<i64> = acks.iter().map(|a| a.id).collect();
        let keys: Vec<&str> = acks.iter().map(|a| a.key.as_str()).collect();
        let mut c = self.conn().await?;
        Ok(diesel::sql_query(
            "SELECT count(*) AS n FROM webhook_events w
             JOIN unnest($1::int8[], $2::text[]) AS a(id, key)
               ON w.id = a.id AND w.dedup_key = a.key
             WHERE w.processed_at IS NOT NULL",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<Text>, _>(&keys)
        .get_result::<N>(&mut c)
        .await
        .context("counting the acknowledged events processed")?
        .n)
    }
}
