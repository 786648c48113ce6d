//! Switchboard's webhook receiver: verify the signature on the raw bytes,
//! store the body, answer 2xx only once the row is committed.

pub mod batcher;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use batcher::{BatchConfig, Batcher, Row};
use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::db::PgPool;
use domain::signature::{self, SignedHeaders, VerifyOptions};
use domain::Provider;
use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

/// Receiver settings.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Largest accepted body, bytes.
    pub max_body_bytes: usize,
    /// Standard Webhooks timestamp tolerance, seconds.
    pub timestamp_tolerance_secs: i64,
    /// Yeastar has no event id: an identical body within this window is a
    /// retry (stored once); after it, a new event.
    pub yeastar_dedup_window: Duration,
    /// Longest time a request may spend on the database before 503.
    pub db_timeout: Duration,
    /// HTTP worker threads (`None`: one per core).
    pub http_workers: Option<usize>,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    pub shutdown_timeout: Duration,
    /// Group commit: most rows per insert transaction.
    pub group_commit_max: usize,
    /// Group commit: insert transactions in flight at once.
    pub group_commit_in_flight: usize,
    /// Group commit: how long a batch waits for more rows (0: never waits).
    pub group_commit_linger: Duration,
    /// How long a source's settings (provider, secrets, enabled) are cached.
    pub source_cache_ttl: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 1024 * 1024,
            timestamp_tolerance_secs: 300,
            yeastar_dedup_window: Duration::from_secs(60),
            db_timeout: Duration::from_secs(5),
            http_workers: None,
            shutdown_timeout: Duration::from_secs(30),
            group_commit_max: 500,
            group_commit_in_flight: 2,
            group_commit_linger: Duration::ZERO,
            source_cache_ttl: Duration::from_secs(1),
        }
    }
}

struct State {
    pool: PgPool,
    cfg: IngestConfig,
    metrics: Option<PrometheusHandle>,
    batcher: Batcher,
    sources: Mutex<HashMap<String, CachedSource>>,
}

/// A source's settings (`None`: unknown or disabled) and when they were read.
type CachedSource = (Instant, Option<Arc<SourceCfg>>);

impl State {
    /// The settings of source `name` (`None`: unknown or disabled), from the
    /// cache when fresh, else from the database.
    async fn source(&self, name: &str) -> Result<Option<Arc<SourceCfg>>, Refusal> {
        let ttl = self.cfg.source_cache_ttl;
        if !ttl.is_zero() {
            if let Ok(cache) = self.sources.lock() {
                if let Some((at, cfg)) = cache.get(name) {
                    if at.elapsed() < ttl {
                        return Ok(cfg.clone());
                    }
                }
            }
        }
        let deadline = self.cfg.db_timeout;
        let mut conn = tokio::time::timeout(deadline, self.pool.get())
            .await
            .map_err(|_| Refusal::unavailable("timed out waiting for a connection"))?
            .map_err(Refusal::unavailable)?;
        let cfg = tokio::time::timeout(deadline, load_source(&mut conn, name))
            .await
            .map_err(|_| Refusal::unavailable("source lookup timed out"))?
            .map_err(Refusal::unavailable)?
            .map(Arc::new);
        if !ttl.is_zero() {
            if let Ok(mut cache) = self.sources.lock() {
                // Names come from URLs: never let them grow the cache unbounded.
                if cache.len() >= 1024 {
                    cache.clear();
                }
                cache.insert(name.to_string(), (Instant::now(), cfg.clone()));
            }
        }
        Ok(cfg)
    }
}

/// An answer that is not 200, with a JSON body `{"error", "message"}`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn unavailable(what: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %what, "database unavailable: answering 503");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable; retry later",
        )
    }

    fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            b.insert_header(("Retry-After", "5"));
        }
        b.json(json!({"error": self.code, "message": self.message}))
    }
}

#[derive(QueryableByName)]
struct SourceRow {
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    secret: Option<String>,
}

/// A source as ingest needs it.
struct SourceCfg {
    provider: Provider,
    secrets: Vec<String>,
}

async fn load_source(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<SourceCfg>, diesel::result::Error> {
    let rows: Vec<SourceRow> = diesel::sql_query(
        "SELECT s.provider, s.enabled, k.secret
         FROM sources s
         LEFT JOIN source_secrets k ON k.source = s.name AND k.revoked_at IS NULL
         WHERE s.name = $1",
    )
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    let Some(first) = <[SourceRow]>::first(&rows) else {
        return Ok(None);
    };
    if !first.enabled {
        return Ok(None);
    }
    let Ok(provider) = first.provider.parse() else {
        return Ok(None);
    };
    Ok(Some(SourceCfg {
        provider,
        secrets: rows.into_iter().filter_map(|r| r.secret).collect(),
    }))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The request headers worth keeping with the body.
fn kept_headers(req: &HttpRequest) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for name in [
        "content-type",
        "user-agent",
        "x-forwarded-for",
        "x-request-id",
        "webhook-id",
        "webhook-timestamp",
    ] {
        if let Some(v) = header(req.headers(), name) {
            m.insert(name.to_string(), json!(v));
        }
    }
    if let Some(addr) = req.peer_addr() {
        m.insert("remote-addr".into(), json!(addr.ip().to_string()));
    }
    serde_json::Value::Object(m)
}

async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("body exceeds the limit of {limit} bytes"),
        )
    };
    if let Some(len) =
        header(req.headers(), CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("reading body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn receive(
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let name = path.into_inner();
    let span = tracing::info_span!("webhook", source = %name);
    let _g = span.enter();
    let (outcome, response) = match handle(&name, &req, payload, &state).await {
        Ok((id, duplicate)) => {
            tracing::debug!(id, duplicate, "accepted");
            (
                if duplicate { "duplicate" } else { "accepted" },
                HttpResponse::Ok().json(json!({
                    "id": id,
                    "status": if duplicate { "duplicate" } else { "accepted" },
                })),
            )
        }
        Err(r) => {
            if r.status != StatusCode::SERVICE_UNAVAILABLE {
                tracing::info!(status = r.status.as_u16(), error = r.code, reason = %r.message, "refused");
            }
            (r.code, r.response())
        }
    };
    // Unknown source names come from the URL: never a label of their own.
    let source = if outcome == "not_found" {
        "unknown".to_string()
    } else {
        name
    };
    metrics::counter!("switchboard_ingest_requests_total", "source" => source, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("switchboard_ingest_request_duration_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn handle(
    name: &str,
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
) -> Result<(i64, bool), Refusal> {
    let body = read_body(req, payload, state.cfg.max_body_bytes).await?;
    let src = state.source(name).await?.ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no enabled source named {name:?}"),
        )
    })?;
    let h = req.headers();
    let signed = SignedHeaders {
        x_signature: header(h, "x-signature"),
        webhook_id: header(h, "webhook-id"),
        webhook_timestamp: header(h, "webhook-timestamp"),
        webhook_signature: header(h, "webhook-signature"),
    };
    let opts = VerifyOptions {
        timestamp_tolerance_secs: state.cfg.timestamp_tolerance_secs,
        now_unix: chrono::Utc::now().timestamp(),
    };
    signature::verify(src.provider, &src.secrets, &signed, &body, &opts)
        .map_err(|e| Refusal::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))?;
    let row = Row {
        source: name.to_string(),
        provider: src.provider,
        dedup_key: signature::dedup_key(src.provider, &signed, &body),
        body: body.to_vec(),
        headers: kept_headers(req),
    };
    // Answered only once the transaction holding the row has committed.
    tokio::time::timeout(state.cfg.db_timeout, state.batcher.submit(row))
        .await
        .map_err(|_| Refusal::unavailable("insert timed out"))?
        .map_err(Refusal::unavailable)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    let check = async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(_)) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(e)) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "error": e}))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "error": "database check timed out"})),
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": "no such route"}))
}

async fn metrics_page(state: web::Data<State>) -> HttpResponse {
    match &state.metrics {
        Some(h) => {
            h.run_upkeep();
            HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4")
                .body(h.render())
        }
        None => HttpResponse::NotFound()
            .json(json!({"error": "not_found", "message": "metrics are off"})),
    }
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
        pool,
        cfg,
        metrics,
        batcher,
        sources: Mutex::new(HashMap::new()),
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/webhooks/{source}", web::post().to(receive))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_page))
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(shutdown);
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok(server.listen(listener)?.run())
}
