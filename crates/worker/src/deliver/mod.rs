//! `worker deliver`: the delivery workers. A claim loop takes due
//! deliveries (`FOR UPDATE SKIP LOCKED`, leased: any number of processes
//! scale out) and sends each on its own task with a pooled HTTP client,
//! at most `--concurrency` at once and at most `--per-endpoint` to one
//! endpoint (an endpoint at its limit is left out of claims), so that a
//! slow endpoint never holds up another. Woken by the outbox's NOTIFY,
//! polling as the fallback. Upkeep disables endpoints failing for too long
//! and samples the per-endpoint gauges.
//!
//! Here: the flags and the loop; `send.rs` one attempt, `schedule.rs` the
//! retries, `ssrf.rs` which addresses are refused, `metrics.rs` the
//! metrics.

mod metrics;
mod schedule;
mod send;
pub mod ssrf;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::events_out::{self, Attempt, Claimed, Next};
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
    /// Deliveries in flight at once in this process.
    #[arg(long, env = "DELIVER_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// Deliveries in flight at once to one endpoint (a slow endpoint holds
    /// no more than this of --concurrency).
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
/// How often upkeep runs.
const UPKEEP_EVERY: Duration = Duration::from_secs(15);

/// What every delivery task shares.
struct Shared {
    pool: PgPool,
    keys: Keyring,
    clients: send::Clients,
    schedule: Schedule,
    /// In flight per endpoint.
    inflight: Mutex<HashMap<i64, usize>>,
    /// Woken when a delivery finishes (a slot, maybe a successor, is free).
    done: Notify,
}

/// Runs the delivery workers on the database at `url` with the secrets
/// `keys` until `shutdown` resolves, then lets the attempts in flight
/// finish (each within its timeout).
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
    let shared = Arc::new(Shared {
        pool: pool.clone(),
        keys,
        clients: send::Clients::new(args.timeout).map_err(DeliverError::Client)?,
        schedule: Schedule {
            base: args.backoff_base,
            cap: args.backoff_cap,
            retry_for: args.retry_for,
        },
        inflight: Mutex::new(HashMap::new()),
        done: Notify::new(),
    });
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
    background.spawn(upkeep(pool, args.clone(), stopping.clone()));
    tracing::info!(
        concurrency = args.concurrency,
        per_endpoint = args.per_endpoint,
        timeout_ms = args.timeout.as_millis() as u64,
        "delivery worker started"
    );
    let claims = claim_loop(shared, args.clone(), wake, stopping);
    tokio::pin!(claims);
    tokio::select! {
        _ = &mut claims => {}
        _ = shutdown => {
            tracing::info!("shutdown requested: finishing the deliveries in flight");
            let _ = stop.send(true);
            claims.await;
        }
    }
    background.shutdown().await;
    tracing::info!("delivery worker stopped");
    Ok(())
}

/// Claims due deliveries while there are free slots, sends each on its own
/// task; sleeps until woken, a delivery finishes, or the poll interval.
async fn claim_loop(
    shared: Arc<Shared>,
    args: DeliverArgs,
    wake: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(usize::from(args.concurrency)));
    let per_endpoint = usize::from(args.per_endpoint);
    let mut tasks = JoinSet::new();
    let mut backoff =
        store::retry::Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        if *stopping.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let free = slots.available_permits();
        let mut got = 0;
        if free > 0 {
            let busy: Vec<i64> = lock(&shared.inflight)
                .iter()
                .filter(|(_, n)| **n >= per_endpoint)
                .map(|(e, _)| *e)
                .collect();
            let claimed = store::run(
                &shared.pool,
                DEADLINE,
                "claiming deliveries",
                Access::Write,
                async |c| events_out::claim(c, free as i64, per_endpoint as i64, &busy).await,
            )
            .await;
            match claimed {
                Ok(claimed) => {
                    backoff.reset();
                    got = claimed.len();
                    for c in claimed {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        *lock(&shared.inflight).entry(c.endpoint_id).or_default() += 1;
                        let shared = shared.clone();
                        tasks.spawn(async move {
                            let endpoint = c.endpoint_id;
                            deliver(&shared, c).await;
                            drop(permit);
                            let mut inflight = lock(&shared.inflight);
                            if let Some(n) = inflight.get_mut(&endpoint) {
                                *n = n.saturating_sub(1);
                                if *n == 0 {
                                    inflight.remove(&endpoint);
                                }
                            }
                            drop(inflight);
                            shared.done.notify_one();
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
            _ = shared.done.notified() => {}
            _ = tokio::time::sleep(args.poll_interval) => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One attempt of delivery `c`, recorded.
async fn deliver(shared: &Shared, c: Claimed) {
    let now = chrono::Utc::now();
    let (attempt, next) = match c.secrets(&shared.keys) {
        Err(e) => {
            let a = Attempt {
                error: Some(format!("cannot open the endpoint's secret: {e}")),
                ..Default::default()
            };
            (
                a,
                shared
                    .schedule
                    .after_failure(c.created_at, c.attempts, now, None),
            )
        }
        Ok(secrets) => {
            let body = serde_json::to_vec(&c.payload).unwrap_or_default();
            let sent = send::send(
                &shared.clients,
                &c.url,
                c.allow_private,
                &secrets,
                &c.event_id,
                body,
            )
            .await;
            let now = chrono::Utc::now();
            let next = match sent.attempt.status {
                Some(200..=299) => Next::Delivered,
                Some(410) => Next::Gone,
                Some(429 | 503) => {
                    let ra = sent
                        .retry_after
                        .as_deref()
                        .and_then(|v| parse_retry_after(v, now));
                    shared
                        .schedule
                        .after_failure(c.created_at, c.attempts, now, ra)
                }
                _ => shared
                    .schedule
                    .after_failure(c.created_at, c.attempts, now, None),
            };
            (sent.attempt, next)
        }
    };
    metrics::attempt(&c, &attempt, next);
    match next {
        Next::Gone => {
            tracing::warn!(endpoint = %c.endpoint, "the endpoint answered 410 Gone: disabled")
        }
        Next::GiveUp => {
            tracing::warn!(endpoint = %c.endpoint, event_id = %c.event_id, attempts = c.attempts, "delivery given up")
        }
        _ => {}
    }
    let done = store::run(
        &shared.pool,
        DEADLINE,
        "completing a delivery",
        Access::Write,
        async |conn| events_out::complete(conn, c.id, c.endpoint_id, &attempt, next).await,
    )
    .await;
    if let Err(e) = done {
        // The lease runs out and the delivery is sent again: at least once.
        tracing::warn!(error = %e, delivery = c.id, "recording a delivery failed");
    }
}

/// Disables endpoints failing for `--disable-after` (a log line and a
/// metric each), prunes the outbox past its retention, and samples the
/// per-endpoint gauges, every [`UPKEEP_EVERY`].
async fn upkeep(pool: PgPool, args: DeliverArgs, mut shutdown: watch::Receiver<bool>) {
    let disable_after = args.disable_after;
    loop {
        let retention = args.outbox_retention;
        if let Err(e) = store::run(
            &pool,
            DEADLINE,
            "pruning the outbox",
            Access::Write,
            async |c| events_out::prune(c, retention, 10_000).await,
        )
        .await
        {
            tracing::warn!(error = %e, "pruning the outbox failed");
        }
        let disabled = store::run(
            &pool,
            DEADLINE,
            "disabling failing endpoints",
            Access::Write,
            async |c| events_out::disable_failing(c, disable_after).await,
        )
        .await;
        match disabled {
            Ok(names) => {
                for name in names {
                    tracing::error!(endpoint = %name, failing_for_s = disable_after.as_secs(), "endpoint failing for too long: disabled");
                    metrics::disabled(&name, "failing");
                }
            }
            Err(e) => tracing::warn!(error = %e, "disabling failing endpoints failed"),
        }
        if let Ok(stats) = store::run(&pool, DEADLINE, "delivery stats", Access::Read, async |c| {
            events_out::DeliveryStats::load(c).await
        })
        .await
        {
            metrics::gauges(&stats);
        }
        tokio::select! {
            _ = tokio::time::sleep(UPKEEP_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
