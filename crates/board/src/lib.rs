//! Switchboard's live extension board: the read side. It follows the
//! worker's change feed (LISTEN), keeps the cards in memory, and pushes
//! them to logged-in browsers over Server-Sent Events; wallboards and CRMs
//! read the same over a JSON API with a token. It never writes call or
//! extension state; operators hang calls up through the phone systems' own
//! APIs (`actions`), and the phone system's webhooks then change the cards.

mod actions;
mod api_stream;
mod auth;
mod callcentre;
mod config;
mod console;
mod error;
mod events;
mod feed;
mod hub;
mod input;
mod pages;
mod routes;
mod sse;
mod streams;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::KeepAlive;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpResponse, HttpServer};
use diesel_async::AsyncPgConnection;
use metrics_exporter_prometheus::PrometheusHandle;
use store::secrets::Keyring;
use store::PgPool;
use telemetry::ReadyCheck;
use tokio::sync::Semaphore;

pub use config::BoardConfig;
pub use error::BoardError;

type Conn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// What every request handler shares.
pub(crate) struct State {
    pool: PgPool,
    cfg: BoardConfig,
    hub: Arc<hub::Hub>,
    /// At most `BOARD_PASSWORD_CHECKS` logins past this point at once...
    password_checks: Semaphore,
    /// ...each checked in one of as many Argon2 buffers, kept and reused.
    checks: store::users::Checks,
    streams: Arc<streams::Streams>,
    /// Changes whenever `/api/stream` has more to read (`api_stream::wake`).
    outbox: api_stream::wake::Wakeups,
    actions: actions::Actions,
}

impl State {
    /// A pooled connection, or 503 when none comes within the timeout.
    async fn conn(&self) -> Result<Conn, BoardError> {
        match tokio::time::timeout(self.cfg.db_timeout, self.pool.get()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "no database connection");
                Err(BoardError::Unavailable(
                    "the database is unavailable; try again".into(),
                ))
            }
            Err(_) => Err(BoardError::Unavailable(
                "the database is busy; try again".into(),
            )),
        }
    }
}

/// Starts the board: the change feed on its own connection to
/// `database_url`, the public HTTP server on `listener`, and, on `admin`
/// when given, the operators' server (`/metrics`, `/readyz`, `/healthz`).
/// `keys` open the phone systems' API credentials: without them, hang-ups
/// are refused (explaining why). Returns the public server's future; on
/// SIGTERM/SIGINT it stops (event streams are closed; browsers reconnect
/// to another instance).
pub fn serve(
    listener: TcpListener,
    admin: Option<TcpListener>,
    database_url: String,
    pool: PgPool,
    cfg: BoardConfig,
    metrics: Option<PrometheusHandle>,
    keys: Option<Keyring>,
) -> std::io::Result<Server> {
    let actions = actions::Actions::new(keys, cfg.action_timeout).map_err(std::io::Error::other)?;
    let hub = Arc::new(hub::Hub::new(
        cfg.recent_calls,
        cfg.replay_events,
        cfg.client_backlog,
        cfg.delta_window,
    ));
    let streams = Arc::new(streams::Streams::new(
        cfg.streams_per_session,
        cfg.streams_per_user,
        cfg.api_streams_per_token,
        cfg.stream_write_timeout,
    ));
    // The feed, the hub's flusher, the API streams' wake-up and the streams'
    // watchdog run as long as the process.
    let outbox = api_stream::wake::start(database_url.clone(), pool.clone());
    tokio::spawn(feed::run(database_url, pool.clone(), hub.clone()));
    tokio::spawn(hub::flusher(hub.clone()));
    tokio::spawn(streams::watchdog(streams.clone()));
    let state = web::Data::new(State {
        password_checks: Semaphore::new(cfg.password_checks),
        checks: store::users::Checks::new(cfg.password_checks),
        streams,
        outbox,
        pool,
        cfg,
        hub,
        actions,
    });
    if let Some(admin) = admin {
        let state = state.clone();
        let ready = ReadyCheck::new(move || std::future::ready(routes::readiness(&state)));
        tokio::spawn(telemetry::serve_ops(admin, metrics, ready)?);
    }
    let (keep_alive, max_conns, shutdown, workers) = (
        Duration::from_secs(30),
        state.cfg.max_connections,
        state.cfg.shutdown_timeout.as_secs().max(1),
        state.cfg.http_workers,
    );
    let mut server = HttpServer::new(move || {
        let mut headers = DefaultHeaders::new();
        for h in pages::SECURITY_HEADERS {
            headers = headers.add(h);
        }
        App::new()
            .app_data(state.clone())
            .app_data(
                web::FormConfig::default()
                    .limit(4096)
                    .error_handler(|e, _| {
                        actix_web::error::InternalError::from_response(
                            e,
                            HttpResponse::BadRequest()
                                .json(serde_json::json!({"error": "bad form"})),
                        )
                        .into()
                    }),
            )
            .wrap(headers)
            .route("/", web::get().to(routes::board))
            .route("/login", web::get().to(routes::login_page))
            .route("/login", web::post().to(routes::login))
            .route("/logout", web::post().to(routes::logout))
            .route("/events", web::get().to(events::events))
            .route("/assets/{name}", web::get().to(routes::asset))
            .route("/api/me", web::get().to(routes::me))
            .route("/api/extensions", web::get().to(routes::api_extensions))
            .route("/api/calls", web::get().to(callcentre::history::api_calls))
            .route("/api/queues", web::get().to(callcentre::api::queues))
            .route("/api/agents", web::get().to(callcentre::api::agents))
            .route("/api/missed-calls", web::get().to(callcentre::api::missed))
            .route(
                "/api/missed-calls/done",
                web::post().to(callcentre::api::mark_done),
            )
            .route("/history", web::get().to(callcentre::pages::history))
            .route("/wallboard", web::get().to(callcentre::pages::wallboard))
            .route("/api/stream", web::get().to(api_stream::stream))
            .route(
                "/api/calls/{source}/{call_id}/hangup",
                web::post().to(routes::hangup),
            )
            .configure(actions::routes::register)
            .configure(console::register)
            .route("/healthz", web::get().to(telemetry::healthz))
            .default_service(web::to(telemetry::not_found))
    })
    // Each connection keeps a duplicate of its socket, so that an event
    // stream whose client accepts nothing can be closed (`streams`).
    .on_connect(|conn, data| {
        if let Some(socket) = streams::ConnSocket::of(conn) {
            data.insert(socket);
        }
    })
    // A client that closes its side is gone: end its stream now, not at
    // the next write that fails (HTTP/1.1 clients do not half-close).
    .h1_allow_half_closed(false)
    .h1_write_buffer_size(streams::PIECE)
    .client_request_timeout(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(KeepAlive::Timeout(keep_alive))
    .max_connections(max_conns)
    .shutdown_timeout(shutdown);
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok(server.listen(listener)?.run())
}
