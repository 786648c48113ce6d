//! `worker deliver`: the delivery workers. A claim loop takes runs of due
//! deliveries (`FOR UPDATE SKIP LOCKED`, leased: any number of processes
//! scale out): each run is the due deliveries of one subject (a call, an
//! extension) to one endpoint, sent in order by a lane of its own with a
//! pooled HTTP client; at most `--concurrency` lanes at once and at most
//! `--per-endpoint` to one endpoint (claims take only an endpoint's room),
//! so that a slow endpoint never holds up another. The lanes' results are
//! written in groups by one completer. Woken by the outbox's NOTIFY and by
//! each written group, polling as the fallback. Upkeep disables endpoints
//! failing for too long and samples the per-endpoint gauges. Inside
//! `worker run --deliver`, the batches also hand their deliveries over
//! (`handoff.rs`): sent on commit, without a claim.
//!
//! Here: the flags, start-up and the claim loop; `lane.rs` a run,
//! `handoff.rs` the handed-over chains (`chains.rs` their bookkeeping),
//! `limits.rs` the slots and
//! per-endpoint permits, `completer.rs` the groups of results, `send.rs`
//! one attempt, `schedule.rs` the retries, `ssrf.rs` which addresses are
//! refused, `upkeep.rs` upkeep, `metrics.rs` the metrics.

mod chains;
mod completer;
mod handoff;
mod lane;
mod limits;
mod metrics;
mod schedule;
mod send;
pub mod ssrf;
mod upkeep;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use store::events_out::{self, Claimed, CLAIM_LEASE};
use store::secrets::Keyring;
use store::{Access, PgPool};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

pub use handoff::HandOff;
use limits::Limits;
pub use schedule::{parse_retry_after, Schedule};
pub use send::{signature, RESPONSE_CAP};

/// How deliveries are made: flags and environment variables, with their
/// defaults written once, here.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliverArgs {
    /// Runs and handed-over chains (lanes) in flight at once in this
    /// process; each has one request in flight.
    #[arg(long, env = "DELIVER_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// Lanes in flight at once to one endpoint (a slow endpoint holds no
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
    limits: Limits,
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
    let mut ops = JoinSet::new();
    if let Some(listener) = telemetry::bind_ops(args.metrics_bind.as_deref())? {
        let handle = telemetry::install_metrics().ok_or(DeliverError::Recorder)?;
        let ready =
            telemetry::ReadyCheck::new(|| async { telemetry::Readiness::of(Ok::<(), String>(())) });
        let server =
            telemetry::serve_ops(listener, Some(handle), ready).map_err(DeliverError::Ops)?;
        ops.spawn(async move {
            let _ = server.await;
        });
    }
    let (stop, stopping) = watch::channel(false);
    let delivery = start(url, args, store::Upstream::Direct, keys, stopping)?;
    drop(delivery.hand_off);
    tokio::pin!(shutdown);
    let done = delivery.done;
    tokio::pin!(done);
    tokio::select! {
        _ = &mut done => {}
        _ = &mut shutdown => {
            tracing::info!("shutdown requested: finishing the deliveries in flight");
            let _ = stop.send(true);
            let _ = done.await;
        }
    }
    ops.shutdown().await;
    tracing::info!("delivery worker stopped");
    Ok(())
}

/// The delivery workers of a process, started.
pub struct Delivery {
    /// Where batches hand their deliveries over.
    pub hand_off: HandOff,
    /// Ends once `stopping` turned true, the attempts in flight finished,
    /// and every [`HandOff`] clone was dropped and its deliveries recorded.
    pub done: tokio::task::JoinHandle<()>,
}

/// Starts the delivery workers on the database at `url` (behind
/// `upstream`) with the secrets `keys` (their metrics described; their
/// server is the caller's), until `stopping` turns true.
pub fn start(
    url: &str,
    args: &DeliverArgs,
    upstream: store::Upstream,
    keys: Keyring,
    stopping: watch::Receiver<bool>,
) -> Result<Delivery, DeliverError> {
    let pool = store::pool_with(
        url,
        store::PoolConfig {
            upstream,
            ..store::PoolConfig::new(args.pool_size.max(2), Duration::from_secs(5))
        },
    )
    .map_err(DeliverError::Pool)?;
    metrics::describe();
    let mut background = JoinSet::new();
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
        limits: Limits::new(
            usize::from(args.concurrency),
            usize::from(args.per_endpoint),
        ),
        stopping: stopping.clone(),
    });
    tracing::info!(
        concurrency = args.concurrency,
        per_endpoint = args.per_endpoint,
        timeout_ms = args.timeout.as_millis() as u64,
        "delivery worker started"
    );
    let hand_off = HandOff::new(shared.clone());
    let claims = claim_loop(pool, shared, args.clone(), wake, stopping);
    let done = tokio::spawn(async move {
        claims.await;
        // Every claimed lane is over and `shared` dropped here; the
        // completer writes what is left and ends once the hand-offs and
        // their chains are gone too.
        let _ = completing.await;
        background.shutdown().await;
    });
    Ok(Delivery { hand_off, done })
}

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
        let free = shared.limits.slots.available_permits();
        let mut got = 0;
        if free > 0 {
            let room = shared.limits.room();
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
                        let Ok(slot) = shared.limits.slots.clone().acquire_owned().await else {
                            break;
                        };
                        got += 1;
                        let (shared, lane_done) = (shared.clone(), lane_done.clone());
                        lanes.spawn(async move {
                            lane::send_run(&shared, run, slot).await;
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
