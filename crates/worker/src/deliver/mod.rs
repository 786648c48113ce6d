//! `worker deliver`: the delivery workers. A claim loop takes runs of due
//! deliveries (`FOR UPDATE SKIP LOCKED`, leased: any number of processes
//! scale out): each run is the due deliveries of one subject (a call, an
//! extension) to one endpoint, sent in order by a lane of its own with a
//! pooled HTTP client; at most `--concurrency` lanes at once and at most
//! `--per-endpoint` to one endpoint (claims take only an endpoint's room),
//! so that a slow endpoint never holds up another. The lanes' results are
//! written in groups by one completer. Woken by the outbox's NOTIFY and by
//! each written group, polling as the fallback. Upkeep disables endpoints
//! failing for too long and samples the per-endpoint gauges.
//!
//! Here: the flags, start-up and the claim loop; `lane.rs` a run,
//! `completer.rs` the groups of results, `send.rs` one attempt,
//! `schedule.rs` the retries, `ssrf.rs` which addresses are refused,
//! `upkeep.rs` upkeep, `metrics.rs` the metrics.

mod completer;
mod lane;
mod metrics;
mod schedule;
mod send;
pub mod ssrf;
mod upkeep;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::events_out::{self, Claimed, Room, CLAIM_LEASE};
use store::secrets::Keyring;
use store::{Access, PgPool};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

pub use schedule::{parse_retry_after, Schedule};
pub use send::{signature, RESPONSE_CAP};

/// How deliveries are made: flags and environment variables, with their
/// defaults written once, here.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliverArgs {
    /// Runs (lanes) in flight at once in this process; each has one
    /// request in flight.
    #[arg(long, env = "DELIVER_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// Runs in flight at once to one endpoint (a slow endpoint holds no
    /// more than this of --concurrency).
    #[arg(long, env = "DELIVER_PER_ENDPOINT", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub per_endpoint: u16,
    /// Wait between claims when nothing is due (NOTIFY wakes it sooner).
    #[arg(long, env = "DELIVER_POLL_INTERVAL", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Each attempt's timeout (connect, send, answer).
    #[arg(long, env = "DELIVER_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// First retry delay; it triples per attempt, with ±20 % jitter.
    #[arg(long, env = "DELIVER_BACKOFF_BASE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub backoff_base: Duration,
    /// Longest retry delay.
    #[arg(long, env = "DELIVER_BACKOFF_CAP", default_value = "12h", value_parser = humantime::parse_duration)]
    pub backoff_cap: Duration,
    /// How long after the event a delivery is retried before it is given up.
    #[arg(long, env = "DELIVER_RETRY_FOR", default_value = "3days", value_parser = humantime::parse_duration)]
    pub retry_for: Duration,
    /// An endpoint whose every attempt failed for this long is disabled.
    #[arg(long, env = "DELIVER_DISABLE_AFTER", default_value = "5days", value_parser = humantime::parse_duration)]
    pub disable_after: Duration,
    /// How long the outbox keeps events (the stream resumes within it);
    /// events still awaited by a delivery are kept until it is done.
    #[arg(long, env = "DELIVER_OUTBOX_RETENTION", default_value = "7days", value_parser = humantime::parse_duration)]
    pub outbox_retention: Duration,
    /// Database connections held by this process.
    #[arg(long, env = "DELIVER_POOL_SIZE", default_value_t = 8)]
    pub pool_size: usize,
    /// Poll only: no LISTEN connection.
    #[arg(long, env = "DELIVER_POLL_ONLY")]
    pub poll_only: bool,
    /// Serve /metrics, /readyz and /healthz for operators on this address;
    /// never expose it publicly. Off when unset.
    #[arg(long, env = "DELIVER_METRICS_BIND")]
    pub metrics_bind: Option<String>,
}

impl Default for DeliverArgs {
    /// The defaults of the flags above.
    fn default() -> Self {
        telemetry::clap_defaults().expect("the built-in delivery defaults parse")
    }
}

/// Why the delivery service could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("building the connection pool")]
    Pool(#[source] store::Error),
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Bind(#[from] telemetry::BindError),
    #[error("installing the metrics recorder")]
    Recorder,
    #[error("starting the metrics server")]
    Ops(#[source] std::io::Error),
}

/// Statements' deadline.
const DEADLINE: Duration = Duration::from_secs(10);
/// How often claims take the deliveries of failing endpoints (whose last
/// attempt failed) too: they wait for retries anyway, and claiming them
/// on every wake-up made healthy endpoints wait behind them.
const FAILING_EVERY: Duration = Duration::from_millis(250);

/// What every lane shares.
struct Shared {
    keys: Keyring,
    clients: send::Clients,
    schedule: Schedule,
    /// Each attempt's timeout.
    timeout: Duration,
    /// How long a claimed run is leased.
    lease: Duration,
    completer: completer::Completer,
    stopping: watch::Receiver<bool>,
}

/// Runs the delivery workers on the database at `url` with the secrets
/// `keys` until `shutdown` resolves, then lets the attempts in flight
/// finish (each within its timeout), gives back the rest of their runs and
/// records them.
pub async fn run(
    url: &str,
    args: &DeliverArgs,
    keys: Keyring,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeliverError> {
    let pool = store::pool_with(
        url,
        store::PoolConfig::new(args.pool_size.max(2), Duration::from_secs(5)),
    )
    .map_err(DeliverError::Pool)?;
    let mut background = JoinSet::new();
    if let Some(listener) = telemetry::bind_ops(args.metrics_bind.as_deref())? {
        let handle = telemetry::install_metrics().ok_or(DeliverError::Recorder)?;
        metrics::describe();
        let ready =
            telemetry::ReadyCheck::new(|| async { telemetry::Readiness::of(Ok::<(), String>(())) });
        let server =
            telemetry::serve_ops(listener, Some(handle), ready).map_err(DeliverError::Ops)?;
        background.spawn(async move {
            let _ = server.await;
        });
    }
    let (stop, stopping) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    if !args.poll_only {
        background.spawn(crate::wake::listen_on(
            url.to_string(),
            events_out::CHANNEL,
            wake.clone(),
            stopping.clone(),
        ));
    }
    background.spawn(upkeep::run(pool.clone(), args.clone(), stopping.clone()));
    let (completer, completing) = completer::start(pool.clone(), wake.clone());
    let shared = Arc::new(Shared {
        keys,
        clients: send::Clients::new(args.timeout).map_err(DeliverError::Client)?,
        schedule: Schedule {
            base: args.backoff_base,
            cap: args.backoff_cap,
            retry_for: args.retry_for,
        },
        timeout: args.timeout,
        lease: CLAIM_LEASE.max(args.timeout * 4),
        completer,
        stopping: stopping.clone(),
    });
    tracing::info!(
        concurrency = args.concurrency,
        per_endpoint = args.per_endpoint,
        timeout_ms = args.timeout.as_millis() as u64,
        "delivery worker started"
    );
    let claims = claim_loop(pool, shared, args.clone(), wake, stopping);
    tokio::pin!(claims);
    tokio::select! {
        _ = &mut claims => {}
        _ = shutdown => {
            tracing::info!("shutdown requested: finishing the deliveries in flight");
            let _ = stop.send(true);
            claims.await;
        }
    }
    // Every lane is over and `shared` with its completer dropped: the
    // completer writes what is left and ends.
    let _ = completing.await;
    background.shutdown().await;
    tracing::info!("delivery worker stopped");
    Ok(())
}

/// Lanes in flight per endpoint.
type InFlight = Arc<Mutex<HashMap<i64, usize>>>;

/// Claims runs while there are free lanes and room, sends each on a lane
/// of its own; sleeps until woken (NOTIFY, a written group of results, a
/// finished lane) or the poll interval.
async fn claim_loop(
    pool: PgPool,
    shared: Arc<Shared>,
    args: DeliverArgs,
    wake: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(usize::from(args.concurrency)));
    let per_endpoint = usize::from(args.per_endpoint);
    let inflight: InFlight = Arc::default();
    let lane_done = Arc::new(Notify::new());
    let mut lanes = JoinSet::new();
    let mut backoff =
        store::retry::Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut failing_at = tokio::time::Instant::now();
    loop {
        if *stopping.borrow() {
            break;
        }
        while lanes.try_join_next().is_some() {}
        let free = slots.available_permits();
        let mut got = 0;
        if free > 0 {
            let room = room(&inflight, per_endpoint);
            let with_failing = failing_at.elapsed() >= FAILING_EVERY;
            if with_failing {
                failing_at = tokio::time::Instant::now();
            }
            let claimed = store::run(
                &pool,
                DEADLINE,
                "claiming deliveries",
                Access::Write,
                async |c| {
                    events_out::claim(c, free as i64, &room, shared.lease, with_failing).await
                },
            )
            .await;
            match claimed {
                Ok(claimed) => {
                    backoff.reset();
                    for run in runs(claimed) {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        got += 1;
                        let endpoint = run[0].endpoint_id;
                        *lock(&inflight).entry(endpoint).or_default() += 1;
                        let (shared, inflight, lane_done) =
                            (shared.clone(), inflight.clone(), lane_done.clone());
                        lanes.spawn(async move {
                            lane::send_run(&shared, run).await;
                            drop(permit);
                            let mut inflight = lock(&inflight);
                            if let Some(n) = inflight.get_mut(&endpoint) {
                                *n = n.saturating_sub(1);
                                if *n == 0 {
                                    inflight.remove(&endpoint);
                                }
                            }
                            drop(inflight);
                            lane_done.notify_one();
                        });
                    }
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "claiming deliveries failed");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopping.wait_for(|s| *s) => {}
                    }
                    continue;
                }
            }
        }
        if free > 0 && got == free {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = lane_done.notified() => {}
            _ = tokio::time::sleep(args.poll_interval.min(FAILING_EVERY)) => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    }
    while lanes.join_next().await.is_some() {}
}

/// The room each endpoint has left in this worker.
fn room(inflight: &InFlight, per_endpoint: usize) -> Room {
    let inflight = lock(inflight);
    Room {
        endpoints: inflight.keys().copied().collect(),
        room: inflight
            .values()
            .map(|n| per_endpoint.saturating_sub(*n) as i64)
            .collect(),
        default: per_endpoint as i64,
    }
}

/// Claimed deliveries (in (head, seq) order) cut into their runs.
fn runs(claimed: Vec<Claimed>) -> Vec<Vec<Claimed>> {
    let mut out: Vec<Vec<Claimed>> = Vec::new();
    for c in claimed {
        match out.last_mut() {
            Some(run) if run[0].head == c.head => run.push(c),
            _ => out.push(vec![c]),
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
