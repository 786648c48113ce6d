//! Switchboard's webhook receiver: verify the signature on the raw bytes,
//! store the body, answer 2xx only once the row is committed.

mod batcher;
mod config;
mod error;
mod routes;
mod source_cache;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use store::PgPool;

use batcher::{BatchConfig, Batcher};
use source_cache::SourceCache;

pub use config::IngestConfig;
pub use error::IngestError;

/// What every request handler shares.
struct State {
    pool: PgPool,
    cfg: IngestConfig,
    metrics: Option<PrometheusHandle>,
    batcher: Batcher,
    sources: SourceCache,
}

/// Starts the HTTP server on `listener`. Returns the server future; on
/// SIGTERM/SIGINT it stops accepting, lets requests in flight finish (up to
/// `cfg.shutdown_timeout`) and resolves.
pub fn serve(
    listener: TcpListener,
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
        },
    );
    let state = web::Data::new(State {
        sources: SourceCache::new(pool.clone(), cfg.source_cache_ttl, cfg.db_timeout),
        pool,
        cfg,
        metrics,
        batcher,
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/webhooks/{source}", web::post().to(routes::receive))
            .route("/healthz", web::get().to(routes::healthz))
            .route("/readyz", web::get().to(routes::readyz))
            .route("/metrics", web::get().to(routes::metrics_page))
            .default_service(web::to(routes::not_found))
    })
    .shutdown_timeout(shutdown);
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok(server.listen(listener)?.run())
}
