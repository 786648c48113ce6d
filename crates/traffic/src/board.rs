//! `traffic board-watch`: the live board under load, measured from the
//! outside as browsers see it.
//!
//! One process logs in to the board once, opens `clients` event streams
//! (`GET /events`, Server-Sent Events) with that session and waits until
//! every one has its snapshot. Then it sends the background load (the
//! realistic scenarios of [`crate::load`], at a steady rate) and, after a
//! warm-up, a probe every `probe_interval`: a signed Yeastar 30011 snapshot
//! that rings one of the probe extensions (in turn) with a call id of its
//! own. A probe's
//! latency, per stream, is the time from ingest's 200 answer to the first
//! `delta` frame on that stream that names the probe's call id (as a
//! card's call or as a call). Both ends are read from one monotonic clock
//! ([`Instant`]) in this one process.
//!
//! The streams only look for the probes' call ids in each frame (a
//! substring search), so that measuring costs little CPU beside the board.
//! A stream the board ends (it fell behind) reconnects with its
//! `Last-Event-ID`, as a browser does; reconnects are counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use memchr::memmem;
use reqwest::header;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::load::{self, LoadConfig, Report};
use crate::scenario::{self, Member};

/// What to measure.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The board's base URL (`http://host:port`).
    pub board: String,
    pub user: String,
    pub password: String,
    /// Event streams to hold open.
    pub clients: usize,
    /// The background load (its `events / rate` is the run's length).
    pub load: LoadConfig,
    /// The Yeastar source the probes go to, and its secret.
    pub probe_source: String,
    pub probe_secret: String,
    /// The probes ring `probe_extensions` extensions from `probe_extension`
    /// on, in turn (keep them out of the load's 1001-1040): a card shows one
    /// call, so a probe must not be followed on its card by the next one
    /// before the board had time to show it.
    pub probe_extension: u32,
    pub probe_extensions: u32,
    pub probe_interval: Duration,
    /// Load before the first probe.
    pub warmup: Duration,
    /// How long to wait, after the last probe, for the streams to get it.
    pub grace: Duration,
    /// The board's process id, to sample its memory and CPU time (Linux).
    pub board_pid: Option<u32>,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut v: Vec<f64>) -> Percentiles {
        v.sort_by(|a, b| a.total_cmp(b));
        Percentiles {
            count: v.len(),
            p50: load::percentile(&v, 0.50),
            p90: load::percentile(&v, 0.90),
            p99: load::percentile(&v, 0.99),
            p999: load::percentile(&v, 0.999),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// The probes and their delivery.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probes {
    pub interval_ms: f64,
    pub sent: usize,
    /// Answered 200 by ingest.
    pub acknowledged: usize,
    pub failed: usize,
    /// Acknowledged probes every stream received.
    pub received_by_all: usize,
    /// (acknowledged probe, stream) pairs, and those received.
    pub pairs_expected: usize,
    pub pairs_received: usize,
    /// Pairs whose delta arrived before the 200 did (counted as 0 ms).
    pub before_ack: usize,
    /// Ingest's answer time of the probes (request sent -> 200), ms.
    pub ack_ms: Percentiles,
}

/// What the streams saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Streams {
    pub clients: usize,
    /// When the first stream was requested (wall clock, ms since the epoch).
    pub opened_unix_ms: f64,
    /// From the first request until every stream had its snapshot, s.
    pub connect_seconds: f64,
    pub snapshot_bytes: usize,
    /// Delta frames over all streams, and per stream per second of load.
    pub delta_frames: u64,
    pub deltas_per_stream_per_s: f64,
    pub mean_delta_bytes: f64,
    /// Bytes received over all streams.
    pub bytes: u64,
    /// Streams the board ended (then reconnected), failed (re)connects, and
    /// snapshots after the first (a resync).
    pub reconnects: u64,
    pub connect_errors: u64,
    pub resync_snapshots: u64,
}

/// The board process, from /proc (Linux).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BoardProc {
    pub pid: u32,
    /// Resident set once every stream had its snapshot, KiB.
    pub rss_kib_connected: u64,
    /// Largest resident set sampled (every 100 ms) during the run, KiB.
    pub rss_kib_max_sampled: u64,
    /// Peak resident set (VmHWM) at the end, KiB.
    pub hwm_kib: u64,
    /// CPU time (user + system) during the load, s, and as a share of one core.
    pub cpu_seconds_load: f64,
    pub cpu_core_share_load: f64,
    /// CPU time since the board started, s.
    pub cpu_seconds_total: f64,
    /// Threads at the end.
    pub threads: u64,
}

/// One probe: when it was sent and answered (wall clock, ms since the
/// epoch, for joining with the database's timestamps) and how long the
/// streams took after the answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeRecord {
    pub n: usize,
    pub call_id: String,
    /// The stored event's id (ingest's answer).
    pub event_id: Option<i64>,
    pub ack_unix_ms: f64,
    /// Request sent -> 200, ms.
    pub ack_ms: f64,
    /// 200 -> the first stream / the last stream that got it, ms (the last
    /// only when every stream got it).
    pub first_ms: Option<f64>,
    pub all_ms: Option<f64>,
    pub received_by: usize,
}

/// The whole measurement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchReport {
    /// Probe 200 -> delta on a stream, over every (probe, stream) pair, ms.
    pub latency_ms: Percentiles,
    /// The p99 of `latency_ms` over every expected pair, a pair never
    /// received counted as infinitely late: `None` when more than 1% were.
    pub p99_counting_lost_ms: Option<f64>,
    /// Probe request sent -> delta on a stream, ms.
    pub from_send_ms: Percentiles,
    /// Per probe: 200 -> the last stream got it (probes every stream got), ms.
    pub all_streams_ms: Percentiles,
    pub probes: Probes,
    pub streams: Streams,
    /// The background load.
    pub load: Report,
    pub load_seconds: f64,
    /// This process's own CPU time during the load (the streams, the load
    /// and the probes share the machine with the board), s.
    pub watcher_cpu_seconds_load: Option<f64>,
    /// CPU time the whole machine spent busy during the load, in cores
    /// (of `cpus`): everything else on it counts too.
    pub machine_busy_cores_load: Option<f64>,
    pub cpus: usize,
    pub board: Option<BoardProc>,
    #[serde(skip)]
    pub records: Vec<ProbeRecord>,
}

/// What one stream saw.
#[derive(Default)]
struct Seen {
    /// Per probe number, when its first delta arrived.
    first: Vec<Option<Instant>>,
    deltas: u64,
    delta_bytes: u64,
    bytes: u64,
    snapshots: u64,
    snapshot_bytes: usize,
    reconnects: u64,
    connect_errors: u64,
}

/// Shared by the streams: how many have their snapshot, and how many
/// (probe, stream) arrivals there were.
struct Progress {
    ready: AtomicUsize,
    arrivals: AtomicUsize,
    changed: Notify,
}

fn origin_of(url: &str) -> Result<String> {
    let u = reqwest::Url::parse(url).with_context(|| format!("board URL {url:?}"))?;
    Ok(u.origin().ascii_serialization())
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Logs in; returns the `sb_session=...` cookie pair.
pub async fn login(board: &str, user: &str, password: &str) -> Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let resp = http
        .post(format!("{}/login", board.trim_end_matches('/')))
        .header(header::ORIGIN, origin_of(board)?)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "username={}&password={}",
            form_encode(user),
            form_encode(password)
        ))
        .send()
        .await
        .context("POST /login")?;
    let status = resp.status();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with("sb_session=") && pair.len() > "sb_session=".len())
        .map(str::to_string);
    match cookie {
        Some(c) if status.as_u16() == 303 => Ok(c),
        _ => bail!("login as {user} failed: {status}"),
    }
}

/// Reads `(VmRSS, VmHWM, Threads)` in KiB (threads as a count).
fn proc_status(pid: u32) -> Option<(u64, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?, field("Threads:")?))
}

/// CPU time (user + system) of `pid`, seconds (clock ticks at 100 Hz, as
/// Linux reports them on every common architecture).
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Busy CPU time of the whole machine, seconds (the `cpu` line of
/// /proc/stat less idle and iowait; 100 Hz ticks).
fn machine_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let busy: u64 = f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?;
    Some(busy as f64 / 100.0)
}

/// The probe numbers named in `data` after `"call_id":"<prefix>`.
fn probes_in(data: &[u8], finder: &memmem::Finder<'_>, mut each: impl FnMut(usize)) {
    for at in finder.find_iter(data) {
        let digits = &data[at + finder.needle().len()..];
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        if end == 0 || digits.get(end) != Some(&b'"') {
            continue;
        }
        if let Some(n) = std::str::from_utf8(&digits[..end])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        {
            each(n);
        }
    }
}

/// One browser's event stream, until `stop`.
#[allow(clippy::too_many_arguments)]
async fn stream(
    http: reqwest::Client,
    url: String,
    cookie: String,
    needle: Arc<String>,
    probes: usize,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let finder = memmem::Finder::new(needle.as_bytes());
    let frame_end = memmem::Finder::new(b"\n\n");
    let data_start = memmem::Finder::new(b"data: ");
    let mut s = Seen {
        first: vec![None; probes],
        ..Seen::default()
    };
    let mut last_id: Option<String> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    'connect: while !*stop.borrow() {
        let mut req = http
            .get(&url)
            .header(header::COOKIE, &cookie)
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = tokio::select! {
            r = req.send() => r,
            _ = stop.changed() => break,
        };
        let mut resp = match resp {
            Ok(r) if r.status() == reqwest::StatusCode::OK => r,
            _ => {
                s.connect_errors += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        buf.clear();
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c,
                _ = stop.changed() => break 'connect,
            };
            let now = Instant::now();
            let bytes = match chunk {
                Ok(Some(b)) => b,
                // The board ended the stream (or it broke): reconnect.
                Ok(None) | Err(_) => {
                    s.reconnects += 1;
                    break;
                }
            };
            s.bytes += bytes.len() as u64;
            let scan_from = buf.len().saturating_sub(1);
            buf.extend_from_slice(&bytes);
            let mut start = 0;
            let mut search = scan_from;
            while let Some(pos) = frame_end.find(&buf[search..]) {
                let end = search + pos;
                let frame = &buf[start..end];
                start = end + 2;
                search = start;
                let Some(d) = data_start.find(frame) else {
                    continue; // retry:, : ping
                };
                let (head, data) = (&frame[..d], &frame[d + 6..]);
                let head = std::str::from_utf8(head).unwrap_or("");
                let mut event = "";
                for line in head.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        last_id = Some(id.to_string());
                    } else if let Some(e) = line.strip_prefix("event: ") {
                        event = e;
                    }
                }
                match event {
                    "delta" => {
                        s.deltas += 1;
                        s.delta_bytes += data.len() as u64;
                        let mut new = 0;
                        probes_in(data, &finder, |n| {
                            if let Some(slot @ None) = s.first.get_mut(n) {
                                *slot = Some(now);
                                new += 1;
                            }
                        });
                        if new > 0 {
                            progress.arrivals.fetch_add(new, Ordering::Relaxed);
                            progress.changed.notify_waiters();
                        }
                    }
                    "snapshot" => {
                        s.snapshots += 1;
                        if s.snapshots == 1 {
                            s.snapshot_bytes = data.len();
                            progress.ready.fetch_add(1, Ordering::Relaxed);
                            progress.changed.notify_waiters();
                        }
                    }
                    _ => {}
                }
            }
            buf.drain(..start);
        }
    }
    s
}

/// Waits until `done()` or `limit`, waking on the streams' progress.
async fn wait_for(progress: &Progress, limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let woken = progress.changed.notified();
        if done() {
            return true;
        }
        tokio::select! {
            _ = woken => {}
            // notify_waiters() only wakes those already waiting: re-check.
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = tokio::time::sleep_until(until) => return done(),
        }
    }
}

struct Sent {
    call_id: String,
    sent: Instant,
    /// The 200's time, wall clock and the stored event's id.
    ack: Option<(Instant, SystemTime, Option<i64>)>,
}

/// Sends `count` probes, one per `interval`, after `warmup`.
async fn send_probes(cfg: WatchConfig, prefix: String, count: usize) -> Vec<Sent> {
    tokio::time::sleep(cfg.warmup).await;
    let mut client = match crate::Client::from_url(&cfg.load.url, Duration::from_secs(15)) {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let path = format!("/webhooks/{}", cfg.probe_source);
    let mut tick = tokio::time::interval(cfg.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        tick.tick().await;
        let call_id = format!("{prefix}{n}");
        let ext = (u64::from(cfg.probe_extension)
            + n as u64 % u64::from(cfg.probe_extensions.max(1)))
        .to_string();
        let ext = ext.as_str();
        let caller = format!("+1555000{ext}");
        let body = scenario::yeastar_snapshot(
            30011,
            &call_id,
            &[
                Member::Trunk("inbound", &caller, ext, "ALERT"),
                Member::Ext(ext, "RING"),
            ],
        );
        let signed = scenario::sign_yeastar(&cfg.probe_secret, &body);
        let sent = Instant::now();
        let ack = match client.post(&path, &signed.headers, &signed.body).await {
            Ok(r) if r.status == 200 => {
                let at = Instant::now();
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                Some((at, SystemTime::now(), v["id"].as_i64()))
            }
            _ => None,
        };
        out.push(Sent { call_id, sent, ack });
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the measurement (see the module documentation).
pub async fn run(cfg: &WatchConfig) -> Result<WatchReport> {
    let board = cfg.board.trim_end_matches('/').to_string();
    let cookie = login(&board, &cfg.user, &cfg.password).await?;
    let load_seconds = if cfg.load.rate > 0.0 {
        cfg.load.events as f64 / cfg.load.rate
    } else {
        bail!("board-watch needs a steady --rate");
    };
    // Probes from the warm-up until a second before the load ends.
    let window = (load_seconds - cfg.warmup.as_secs_f64() - 1.0).max(0.0);
    let count = ((window / cfg.probe_interval.as_secs_f64()).floor() as usize).max(1);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let prefix = format!("bp{stamp}-");
    let needle = Arc::new(format!("\"call_id\":\"{prefix}"));

    // The streams.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let progress = Arc::new(Progress {
        ready: AtomicUsize::new(0),
        arrivals: AtomicUsize::new(0),
        changed: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let t_connect = Instant::now();
    let opened_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(ms)
        .unwrap_or_default();
    let streams: Vec<_> = (0..cfg.clients)
        .map(|_| {
            tokio::spawn(stream(
                http.clone(),
                format!("{board}/events"),
                cookie.clone(),
                needle.clone(),
                count,
                progress.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let all = cfg.clients;
    if !wait_for(&progress, Duration::from_secs(60), || {
        progress.ready.load(Ordering::Relaxed) >= all
    })
    .await
    {
        let _ = stop_tx.send(true);
        bail!(
            "only {} of {all} event streams got their snapshot within 60 s",
            progress.ready.load(Ordering::Relaxed)
        );
    }
    let connect_seconds = t_connect.elapsed().as_secs_f64();

    // The board's memory and CPU, sampled while the load runs.
    let pid = cfg.board_pid;
    let rss_connected = pid.and_then(proc_status).map(|(rss, _, _)| rss);
    let (sample_stop, mut sample_rx) = watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut max = 0;
        let Some(pid) = pid else { return max };
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            if let Some((rss, _, _)) = proc_status(pid) {
                max = max.max(rss);
            }
            tokio::select! {
                _ = tick.tick() => {}
                _ = sample_rx.changed() => return max,
            }
        }
    });

    // The load and the probes.
    let cpu0 = pid.and_then(proc_cpu_seconds);
    let me = std::process::id();
    let self0 = proc_cpu_seconds(me);
    let busy0 = machine_busy_seconds();
    let t_load = Instant::now();
    let load_cfg = cfg.load.clone();
    let load_task = tokio::spawn(async move {
        let requests = load::plan(&load_cfg);
        load::run(&load_cfg, requests).await
    });
    let probe_task = tokio::spawn(send_probes(cfg.clone(), prefix, count));
    let report = load_task.await.context("the load task")??;
    let load_elapsed = t_load.elapsed().as_secs_f64();
    let cpu1 = pid.and_then(proc_cpu_seconds);
    let self1 = proc_cpu_seconds(me);
    let busy1 = machine_busy_seconds();
    let sent = probe_task.await.context("the probe task")?;
    let acked = sent.iter().filter(|p| p.ack.is_some()).count();
    // Wait for the last probes to reach every stream.
    wait_for(&progress, cfg.grace, || {
        progress.arrivals.load(Ordering::Relaxed) >= acked * all
    })
    .await;
    let _ = stop_tx.send(true);
    let mut seen = Vec::with_capacity(all);
    for s in streams {
        seen.push(s.await.context("an event stream task")?);
    }
    let _ = sample_stop.send(true);
    let rss_max = sampler.await.unwrap_or(0);

    // Latencies.
    let mut from_ack = Vec::with_capacity(acked * all);
    let mut from_send = Vec::with_capacity(acked * all);
    let mut all_streams = Vec::new();
    let mut records = Vec::with_capacity(sent.len());
    let mut before_ack = 0;
    let mut received_by_all = 0;
    let mut ack_ms = Vec::new();
    for (n, p) in sent.iter().enumerate() {
        let Some((ack, wall, event_id)) = p.ack else {
            continue;
        };
        ack_ms.push(ms(ack - p.sent));
        let mut first: Option<f64> = None;
        let mut last: f64 = 0.0;
        let mut by = 0;
        for s in &seen {
            let Some(at) = s.first.get(n).copied().flatten() else {
                continue;
            };
            by += 1;
            let d = if at < ack {
                before_ack += 1;
                0.0
            } else {
                ms(at - ack)
            };
            from_ack.push(d);
            from_send.push(ms(at.saturating_duration_since(p.sent)));
            first = Some(first.map_or(d, |f: f64| f.min(d)));
            last = last.max(d);
        }
        if by == all {
            received_by_all += 1;
            all_streams.push(last);
        }
        records.push(ProbeRecord {
            n,
            call_id: p.call_id.clone(),
            event_id,
            ack_unix_ms: wall.duration_since(UNIX_EPOCH).map(ms).unwrap_or_default(),
            ack_ms: ms(ack - p.sent),
            first_ms: first,
            all_ms: (by == all).then_some(last),
            received_by: by,
        });
    }
    let deltas: u64 = seen.iter().map(|s| s.deltas).sum();
    let delta_bytes: u64 = seen.iter().map(|s| s.delta_bytes).sum();
    let streams = Streams {
        clients: all,
        opened_unix_ms,
        connect_seconds,
        snapshot_bytes: seen.first().map_or(0, |s| s.snapshot_bytes),
        delta_frames: deltas,
        deltas_per_stream_per_s: deltas as f64 / all.max(1) as f64 / load_elapsed.max(1e-9),
        mean_delta_bytes: delta_bytes as f64 / deltas.max(1) as f64,
        bytes: seen.iter().map(|s| s.bytes).sum(),
        reconnects: seen.iter().map(|s| s.reconnects).sum(),
        connect_errors: seen.iter().map(|s| s.connect_errors).sum(),
        resync_snapshots: seen.iter().map(|s| s.snapshots.saturating_sub(1)).sum(),
    };
    let pairs_received = from_ack.len();
    from_ack.sort_by(|a, b| a.total_cmp(b));
    let p99_counting_lost_ms = {
        let mut v = from_ack.clone();
        v.resize(acked * all, f64::INFINITY);
        Some(load::percentile(&v, 0.99)).filter(|p| p.is_finite())
    };
    let latency_ms = Percentiles::of(from_ack);
    let board_proc = pid.map(|pid| {
        let (_, hwm, threads) = proc_status(pid).unwrap_or_default();
        let cpu_load = match (cpu0, cpu1) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        BoardProc {
            pid,
            rss_kib_connected: rss_connected.unwrap_or(0),
            rss_kib_max_sampled: rss_max,
            hwm_kib: hwm,
            cpu_seconds_load: cpu_load,
            cpu_core_share_load: cpu_load / load_elapsed.max(1e-9),
            cpu_seconds_total: proc_cpu_seconds(pid).unwrap_or(0.0),
            threads,
        }
    });
    Ok(WatchReport {
        latency_ms,
        p99_counting_lost_ms,
        from_send_ms: Percentiles::of(from_send),
        all_streams_ms: Percentiles::of(all_streams),
        probes: Probes {
            interval_ms: ms(cfg.probe_interval),
            sent: sent.len(),
            acknowledged: acked,
            failed: sent.len() - acked,
            received_by_all,
            pairs_expected: acked * all,
            pairs_received,
            before_ack,
            ack_ms: Percentiles::of(ack_ms),
        },
        streams,
        load: report,
        load_seconds: load_elapsed,
        watcher_cpu_seconds_load: self0.zip(self1).map(|(a, b)| b - a),
        machine_busy_cores_load: busy0
            .zip(busy1)
            .map(|(a, b)| (b - a) / load_elapsed.max(1e-9)),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        board: board_proc,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_probe_numbers_only_as_call_ids() {
        let needle = "\"call_id\":\"bp7-";
        let finder = memmem::Finder::new(needle.as_bytes());
        let data = br#"{"extensions":[{"number":"9000","call":{"call_id":"bp7-12","leg_id":"PJSIP/9000-bp7-99"}}],"calls":[{"id":3,"call_id":"bp7-13"},{"call_id":"bp7-x"},{"call_id":"bp8-1"},{"call_id":"bp7-14x"}]}"#;
        let mut got = Vec::new();
        probes_in(data, &finder, |n| got.push(n));
        assert_eq!(got, vec![12, 13]);
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("bench password 123"), "bench+password+123");
        assert_eq!(form_encode("a&b=c/é"), "a%26b%3Dc%2F%C3%A9");
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let (rss, hwm, threads) = proc_status(pid).expect("status");
        assert!(rss > 0 && hwm >= rss && threads >= 1);
        assert!(proc_cpu_seconds(pid).is_some());
        assert!(machine_busy_seconds().is_some_and(|s| s > 0.0));
    }
}
