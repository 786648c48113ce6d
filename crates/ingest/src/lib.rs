//! Switchboard's webhook receiver: verify the signature on the raw bytes,
//! store the body, answer 2xx only once the row is committed.

mod allowlist;
mod batcher;
mod config;
mod error;
mod routes;
mod source_cache;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use store::PgPool;
use telemetry::{Readiness, ReadyCheck};

use batcher::{BatchConfig, Batcher};
use source_cache::SourceCache;

pub use config::IngestConfig;
pub use error::IngestError;

/// What every request handler shares.
struct State {
    cfg: IngestConfig,
    batcher: Batcher,
    sources: SourceCache,
}

/// Starts the public HTTP server on `listener` (`POST /webhooks/{source}`
/// and `GET /healthz`), and, on `admin` when given, the operators' server
/// (`/metrics`, `/readyz`, `/healthz`), which is never to be exposed
/// publicly. Returns the public server's future; on SIGTERM/SIGINT it stops
/// accepting, lets requests in flight finish (up to `cfg.shutdown_timeout`)
/// and resolves.
pub fn serve(
    listener: TcpListener,
    admin: Option<TcpListener>,
    pool: PgPool,
    cfg: IngestConfig,
    metrics: Option<PrometheusHandle>,
) -> std::io::Result<Server> {
    let workers = cfg.http_workers;
    let shutdown = cfg.shutdown_timeout.as_secs().max(1);
    let batcher = Batcher::start(
        pool.clone(),
        BatchConfig {
            max_batch: cfg.group_commit_max,
            max_in_flight: cfg.group_commit_in_flight,
            linger: cfg.group_commit_linger,
            yeastar_dedup_window: cfg.yeastar_dedup_window,
            deadline: cfg.db_timeout,
        },
    );
    let state = web::Data::new(State {
        sources: SourceCache::new(pool.clone(), cfg.source_cache_ttl, cfg.db_timeout),
        cfg,
        batcher,
    });
    if let Some(admin) = admin {
        // Ready: the database answers within 2 s and takes writes; else
        // the answer names the cause.
        let ready = ReadyCheck::new(move || {
            let pool = pool.clone();
            async move {
                match store::ping(&pool, telemetry::READY_WITHIN).await {
                    Ok(()) => Readiness::of(Ok::<(), String>(())),
                    Err(e) => Readiness::unavailable(e.fields()),
                }
            }
        });
        tokio::spawn(telemetry::serve_ops(admin, metrics, ready)?);
    }
    let (head, keep_alive, max_conns) = (
        state.cfg.head_timeout,
        state.cfg.keep_alive,
        state.cfg.max_connections,
    );
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(telemetry::healthz))
            // POST /webhooks/{source}, matched by prefix (routes::public).
            .default_service(web::to(routes::public))
    })
    .client_request_timeout(head)
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(if keep_alive.is_zero() {
        KeepAlive::Disabled
    } else {
        KeepAlive::Timeout(keep_alive)
    })
    .max_connections(max_conns)
    .shutdown_timeout(shutdown);
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok(server.listen(listener)?.run())
}
