//! The worker service (`worker run`): the pool, the operators' server
//! (`/metrics`, `/readyz`, `/healthz`), the LISTEN wake-ups, the upkeep of
//! the inbox, the claim loops, and the shutdown deadline. A library
//! function, so that tests start it as the binary does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use store::secrets::Keyring;
use store::PgPool;
use telemetry::{Readiness, ReadyCheck};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::deliver::{self, DeliverArgs};
use crate::{depth, maintain, wake, Backlog, Worker, WorkerConfig};

/// How the service runs: flags and environment variables, with their
/// defaults written once, here.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// How each claim loop claims and retries.
    #[command(flatten)]
    pub config: WorkerConfig,
    /// Claim loops in this process, each running its own batches on its own
    /// connection (concurrent batches claim disjoint events); all but the
    /// first claim only while batches come back full (a backlog).
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Database connections held by this worker (plus one for LISTEN); at
    /// least --concurrency + 1 (one for maintenance and metrics).
    #[arg(long, env = "WORKER_POOL_SIZE", default_value_t = 3)]
    pub pool_size: usize,
    /// Poll only: no LISTEN connection (for poolers in transaction mode).
    #[arg(long, env = "WORKER_POLL_ONLY")]
    pub poll_only: bool,
    /// DATABASE_URL is a pooler in transaction mode (PgBouncer
    /// `pool_mode = transaction`): no statement stays prepared across
    /// transactions, and no LISTEN (implies --poll-only).
    #[arg(long, env = "DATABASE_TRANSACTION_POOLER")]
    pub transaction_pooler: bool,
    /// Serve /metrics, /readyz and /healthz for operators on this address
    /// (e.g. 0.0.0.0:9090); never expose it publicly. Off when unset.
    #[arg(long, env = "WORKER_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// On SIGTERM/SIGINT, how long the current batch may take to commit
    /// before the worker exits anyway (its transaction then rolls back).
    #[arg(long, env = "WORKER_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Deliver the events out too, as `worker deliver` does (set by its
    /// DELIVER_* variables; needs SWITCHBOARD_SECRETS_KEY), and send each
    /// batch's deliveries as soon as it commits, without waiting for a
    /// claim.
    #[arg(long, env = "WORKER_DELIVER")]
    pub deliver: bool,
}

impl Default for RunArgs {
    /// The defaults of the flags above.
    fn default() -> Self {
        telemetry::clap_defaults().expect("the built-in worker defaults parse")
    }
}

/// Why the service could not start, or did not stop in time.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The pool could not be built (unusable TLS settings in the URL).
    #[error("building the connection pool")]
    Pool(#[source] store::Error),
    /// The operators' address could not be bound.
    #[error(transparent)]
    Bind(#[from] telemetry::BindError),
    /// Another metrics recorder was installed first.
    #[error("installing the metrics recorder")]
    Recorder,
    /// The operators' server could not start.
    #[error("starting the metrics server")]
    Ops(#[source] std::io::Error),
    /// The delivery workers (--deliver) could not start.
    #[error("starting the delivery workers")]
    Deliver(#[source] crate::deliver::DeliverError),
    /// The claim loops were still busy when the deadline passed: the
    /// current batch's transaction rolls back as the process exits.
    #[error(
        "the current batch did not finish within the shutdown deadline: exiting; it rolls back"
    )]
    Deadline,
}

/// How often the inbox depth gauges are sampled (with metrics on).
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// Runs the worker on the database at `url` until `shutdown` resolves,
/// then lets the current batches commit (within `args.shutdown_timeout`)
/// and returns. Everything it started (the operators' server included)
/// stops when it returns.
pub async fn run(
    url: &str,
    args: &RunArgs,
    deliver: Option<(DeliverArgs, Keyring)>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let loops = usize::from(args.concurrency);
    let upstream = store::Upstream::when(args.transaction_pooler);
    let poll_only = args.poll_only || args.transaction_pooler;
    let pool = store::pool_with(
        url,
        store::PoolConfig {
            size: args.pool_size.max(loops + 1),
            wait: Duration::from_secs(5),
            upstream,
            deadlines: args.config.deadlines(),
        },
    )
    .map_err(ServiceError::Pool)?;
    let deadline = args.config.statement_timeout;
    let mut background = JoinSet::new();
    if let Some(listener) = telemetry::bind_ops(args.metrics_bind.as_deref())? {
        serve_ops(listener, &pool, deadline, &mut background)?;
    }
    let cfg = &args.config;
    tracing::info!(
        batch_size = cfg.batch_size,
        poll_interval_ms = cfg.poll_interval.as_millis() as u64,
        max_attempts = cfg.max_attempts,
        concurrency = loops,
        listen = !poll_only,
        transaction_pooler = args.transaction_pooler,
        "worker started"
    );
    let (stop, stopping) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    if !poll_only {
        background.spawn(wake::listen(
            url.to_string(),
            wake.clone(),
            stopping.clone(),
        ));
    }
    background.spawn(maintain::run(pool.clone(), deadline, stopping.clone()));
    let delivery = match deliver {
        Some((mut d, keys)) => {
            d.poll_only |= poll_only;
            let started = deliver::start(url, &d, upstream, keys, stopping.clone());
            Some(started.map_err(ServiceError::Deliver)?)
        }
        None => None,
    };
    let hand_off = delivery.as_ref().map(|d| d.hand_off.clone());
    let mut claim_loops = JoinSet::new();
    let backlog = Arc::new(Backlog::default());
    for n in 0..loops {
        let mut worker = Worker::new(pool.clone(), cfg.clone())
            .with_hand_off(hand_off.clone())
            .with_backlog(backlog.clone(), n > 0);
        let (stopping, wake) = (stopping.clone(), wake.clone());
        claim_loops.spawn(async move { worker.run(stopping, wake).await });
    }
    let deadline = args.shutdown_timeout;
    let stopped = async {
        shutdown.await;
        tracing::info!(
            deadline_s = deadline.as_secs_f64(),
            "shutdown requested: finishing the current batch"
        );
        let _ = stop.send(true);
        tokio::time::sleep(deadline).await;
    };
    drop(hand_off);
    let finished = async {
        join_all(&mut claim_loops).await;
        // The claim loops' hand-offs are gone: the delivery workers end
        // once their attempts in flight are recorded.
        if let Some(d) = delivery {
            drop(d.hand_off);
            let _ = d.done.await;
        }
    };
    let outcome = tokio::select! {
        _ = finished => Ok(()),
        _ = stopped => Err(ServiceError::Deadline),
    };
    // After the deadline, this ends the batches still running: their
    // transactions roll back.
    claim_loops.shutdown().await;
    background.shutdown().await;
    if outcome.is_ok() {
        tracing::info!("worker stopped");
    }
    outcome
}

/// Waits for every claim loop, logging those that ended abnormally.
async fn join_all(loops: &mut JoinSet<()>) {
    while let Some(done) = loops.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a claim loop ended abnormally");
        }
    }
}

/// Serves `/metrics`, `/readyz` (the database answers within 2 s and takes
/// writes; else the answer names the cause) and `/healthz` on `listener`,
/// and samples the inbox depth gauges every 5 s (each sample within
/// `deadline`), as tasks of `background`.
fn serve_ops(
    listener: std::net::TcpListener,
    pool: &PgPool,
    deadline: Duration,
    background: &mut JoinSet<()>,
) -> Result<(), ServiceError> {
    let handle = telemetry::install_metrics().ok_or(ServiceError::Recorder)?;
    store::health::describe();
    let addr = listener.local_addr().map_err(ServiceError::Ops)?;
    let ready_pool = pool.clone();
    let ready = ReadyCheck::new(move || {
        let pool = ready_pool.clone();
        async move {
            match store::ping(&pool, telemetry::READY_WITHIN).await {
                Ok(()) => Readiness::of(Ok::<(), String>(())),
                Err(e) => Readiness::unavailable(e.fields()),
            }
        }
    });
    let server = telemetry::serve_ops(listener, Some(handle), ready).map_err(ServiceError::Ops)?;
    tracing::info!(%addr, "metrics listening");
    // The server stops when its task is dropped.
    background.spawn(async move {
        let _ = server.await;
    });
    background.spawn(depth::sample(pool.clone(), DEPTH_EVERY, deadline));
    Ok(())
}
