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
//!
//! Here: what to measure and the run itself; `stream` is one browser's
//! event stream, `probes` sends the probe calls, `login` logs in, `procfs`
//! samples the board process, `report` sums it all up.

mod login;
mod probes;
mod procfs;
mod report;
mod stream;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use tokio::sync::{watch, Notify};

use crate::load::{self, LoadConfig};

pub use login::login;
pub use report::{BoardProc, Percentiles, ProbeRecord, Probes, Streams, WatchReport};

use probes::send_probes;
use procfs::{machine_busy_seconds, proc_cpu_seconds, proc_status};
use report::{ms, Latencies};
use stream::{stream, wait_for, Progress};

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

    let latencies = Latencies::of(&sent, &seen);
    let streams = Streams::of(&seen, opened_unix_ms, connect_seconds, load_elapsed);
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
    let mut watch = latencies.report(ms(cfg.probe_interval), sent.len(), all);
    watch.streams = streams;
    watch.load = report;
    watch.load_seconds = load_elapsed;
    watch.watcher_cpu_seconds_load = self0.zip(self1).map(|(a, b)| b - a);
    watch.machine_busy_cores_load = busy0
        .zip(busy1)
        .map(|(a, b)| (b - a) / load_elapsed.max(1e-9));
    watch.cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    watch.board = board_proc;
    Ok(watch)
}
