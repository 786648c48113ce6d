//! The load generator: realistic signed call scenarios sent to an ingest URL
//! by count or at a rate, optionally duplicated and reordered, with the
//! answers counted and latencies measured.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::Provider;

use crate::http::{Client, HttpError};
use crate::scenario::{self, DIALPAD_SCENARIOS, YEASTAR_SCENARIOS};

/// A source to send to: its name, provider and secret.
#[derive(Debug, Clone)]
pub struct Target {
    pub source: String,
    pub provider: Provider,
    pub secret: Option<String>,
}

/// What to send and how.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Ingest base URL (`http://host:port`).
    pub url: String,
    pub targets: Vec<Target>,
    /// Events to send (whole calls are generated; the last may be cut).
    pub events: usize,
    /// Events per second; 0 sends as fast as the concurrency allows.
    pub rate: f64,
    pub concurrency: usize,
    /// Fraction of events delivered a second time (as a retrying sender would).
    pub duplicates: f64,
    /// Shuffle the events of each call (out-of-order delivery).
    pub reorder: bool,
    /// Retries of a request that failed (transport error or 5xx).
    pub retries: u32,
    /// Keep retrying a failed request until this long after its first
    /// attempt, whatever `retries` says (zero: off): a sender that retries
    /// for 30 s, as the upgrade check assumes.
    pub retry_for: Duration,
    /// First call number (call ids derive from it: make runs distinct).
    pub first_call: u64,
    pub seed: u64,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Requests sent (retries not counted).
    pub sent: usize,
    /// Answered 200 (stored, or already stored).
    pub acknowledged: usize,
    /// Of those, answered "duplicate".
    pub duplicates: usize,
    /// Not acknowledged after the retries.
    pub failed: usize,
    /// Retries made.
    pub retries: usize,
    /// Requests that needed at least one retry (failed at first, whatever
    /// came of them).
    pub retried: usize,
    /// Event ids of the acknowledged requests, in answer order.
    #[serde(skip)]
    pub acked_ids: Vec<i64>,
    pub seconds: f64,
    pub events_per_second: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p90: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

/// A small deterministic PRNG (xorshift64*), enough for shuffles and coin flips.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Builds the signed requests of a run: calls alternate between targets and
/// cycle through every scenario kind of their provider.
pub fn plan(cfg: &LoadConfig) -> Vec<Request> {
    let mut rng = Rng::new(cfg.seed);
    let mut out = Vec::with_capacity(cfg.events + cfg.events / 4);
    let exts: Vec<String> = (1001..=1040).map(|n| n.to_string()).collect();
    let users: Vec<u64> = (0..40).map(|i| 5_171_365_938_069_000 + i).collect();
    let mut call = cfg.first_call;
    let mut i = 0usize;
    let mut made = 0usize;
    while made < cfg.events && !cfg.targets.is_empty() {
        let t = &cfg.targets[i % cfg.targets.len()];
        let rot = rng.below(exts.len());
        let pick: Vec<String> = (0..3)
            .map(|k| exts[(rot + k) % exts.len()].clone())
            .collect();
        let pick_users: Vec<u64> = (0..3).map(|k| users[(rot + k) % users.len()]).collect();
        let s = match t.provider {
            Provider::Yeastar => scenario::yeastar(
                YEASTAR_SCENARIOS[i / cfg.targets.len() % YEASTAR_SCENARIOS.len()],
                call,
                &pick,
            ),
            Provider::Dialpad => scenario::dialpad(
                DIALPAD_SCENARIOS[i / cfg.targets.len() % DIALPAD_SCENARIOS.len()],
                call,
                &pick_users,
                1_790_000_000_000 + call as i64 * 1_000,
            ),
            Provider::Standard => None,
        };
        i += 1;
        call += 1;
        let Some(mut s) = s else { continue };
        if cfg.reorder {
            rng.shuffle(&mut s.steps);
        }
        let path = format!("/webhooks/{}", t.source);
        for st in s.steps {
            if made >= cfg.events {
                break;
            }
            made += 1;
            let signed = scenario::sign(t.provider, t.secret.as_deref(), &st.body);
            let req = Request {
                path: path.clone(),
                headers: signed.headers,
                body: signed.body,
            };
            if rng.unit() < cfg.duplicates {
                out.push(req.clone());
            }
            out.push(req);
        }
    }
    out
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Sends `requests` as configured, from `concurrency` tasks that share one
/// connection pool: each has at most one request in flight. Returns the
/// report; fails only on an unusable URL.
pub async fn run(cfg: &LoadConfig, requests: Vec<Request>) -> Result<Report, HttpError> {
    let client = Client::from_url(&cfg.url, cfg.timeout)?;
    let total = requests.len();
    let queue = Arc::new(Mutex::new(requests.into_iter().collect::<VecDeque<_>>()));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cfg.concurrency.max(1) {
        let (queue, next) = (queue.clone(), next.clone());
        let mut client = client.clone();
        let (rate, retries, retry_for) = (cfg.rate, cfg.retries, cfg.retry_for);
        tasks.push(tokio::spawn(async move {
            let mut r = Report::default();
            let mut latencies = Vec::new();
            while let Some(req) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(k as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                r.sent += 1;
                let t0 = Instant::now();
                let mut attempt = 0;
                loop {
                    match client.post(&req.path, &req.headers, &req.body).await {
                        Ok(resp) if resp.status == 200 => {
                            latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                            r.acknowledged += 1;
                            let v: serde_json::Value =
                                serde_json::from_slice(&resp.body).unwrap_or_default();
                            if v["status"] == "duplicate" {
                                r.duplicates += 1;
                            }
                            if let Some(id) = v["id"].as_i64() {
                                r.acked_ids.push(id);
                            }
                            break;
                        }
                        Ok(resp) if resp.status < 500 => {
                            r.failed += 1;
                            break;
                        }
                        _ if attempt < retries || t0.elapsed() < retry_for => {
                            if attempt == 0 {
                                r.retried += 1;
                            }
                            attempt += 1;
                            r.retries += 1;
                            let backoff = Duration::from_millis(50 * u64::from(attempt));
                            tokio::time::sleep(backoff.min(Duration::from_secs(1))).await;
                        }
                        _ => {
                            r.failed += 1;
                            break;
                        }
                    }
                }
            }
            (r, latencies)
        }));
    }
    let mut report = Report::default();
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        let Ok((r, l)) = t.await else { continue };
        report.sent += r.sent;
        report.acknowledged += r.acknowledged;
        report.duplicates += r.duplicates;
        report.failed += r.failed;
        report.retries += r.retries;
        report.retried += r.retried;
        report.acked_ids.extend(r.acked_ids);
        latencies.extend(l);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.events_per_second = report.acknowledged as f64 / report.seconds.max(1e-9);
    latencies.sort_by(|a, b| a.total_cmp(b));
    report.latency_ms_p50 = percentile(&latencies, 0.50);
    report.latency_ms_p90 = percentile(&latencies, 0.90);
    report.latency_ms_p99 = percentile(&latencies, 0.99);
    report.latency_ms_max = latencies.last().copied().unwrap_or(0.0);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(events: usize, dup: f64, reorder: bool) -> LoadConfig {
        LoadConfig {
            url: "http://127.0.0.1:1".into(),
            targets: vec![
                Target {
                    source: "pbx".into(),
                    provider: Provider::Yeastar,
                    secret: Some("s".into()),
                },
                Target {
                    source: "dp".into(),
                    provider: Provider::Dialpad,
                    secret: None,
                },
            ],
            events,
            rate: 0.0,
            concurrency: 1,
            duplicates: dup,
            reorder,
            retries: 0,
            retry_for: Duration::ZERO,
            first_call: 1,
            seed: 42,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn plans_mix_providers_and_duplicate() {
        let p = plan(&cfg(1000, 0.0, false));
        assert_eq!(p.len(), 1000);
        // Only Yeastar's resume repeats a body (the answer snapshot).
        let distinct: std::collections::HashSet<&[u8]> =
            p.iter().map(|r| r.body.as_slice()).collect();
        assert!(distinct.len() > 970, "{}", distinct.len());
        assert!(p.iter().any(|r| r.path == "/webhooks/pbx"));
        assert!(p.iter().any(|r| r.path == "/webhooks/dp"));
        let d = plan(&cfg(1000, 0.2, true));
        assert!(
            d.len() > 1100 && d.len() < 1300,
            "about 20% sent twice: {}",
            d.len()
        );
    }

    /// A server whose first `failures` answers are 503, then 200 with an
    /// id, as ingest answers. Returns its URL.
    async fn failing_then_ok(failures: usize) -> String {
        use tokio::io::AsyncWriteExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let served = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let served = served.clone();
                tokio::spawn(async move {
                    while crate::http::tests::read_request(&mut s).await.is_some() {
                        let n = served.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = if n < failures {
                            ("503 Service Unavailable", "{}".to_string())
                        } else {
                            ("200 OK", format!(r#"{{"id":{n},"status":"accepted"}}"#))
                        };
                        let resp = format!(
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn retry_for_keeps_a_failed_request_until_it_is_answered() {
        let mut c = cfg(1, 0.0, false);
        c.concurrency = 1;
        c.retries = 0;
        c.retry_for = Duration::from_secs(20);
        c.url = failing_then_ok(4).await;
        let r = run(&c, plan(&c)).await.expect("run");
        assert_eq!(
            (r.sent, r.acknowledged, r.failed, r.retried, r.retries),
            (1, 1, 0, 1, 4)
        );
        assert_eq!(r.acked_ids, vec![4]);
        // Without it (and no --retries), the first 503 is final.
        c.retry_for = Duration::ZERO;
        c.url = failing_then_ok(4).await;
        let r = run(&c, plan(&c)).await.expect("run");
        assert_eq!((r.acknowledged, r.failed, r.retries), (0, 1, 0));
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
