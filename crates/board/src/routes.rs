//! The HTTP handlers.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use store::access;
use store::users;
use telemetry::Readiness;

use crate::actions;
use crate::auth;
use crate::error::BoardError;
use crate::input;
use crate::{pages, State};

type Data = web::Data<State>;

/// What `/readyz` on the operators' port answers: ready once the board has
/// loaded its state and follows the change feed (with its open streams and
/// whether hang-ups are on), loading before.
pub fn readiness(state: &State) -> Readiness {
    if state.hub.is_ready() {
        Readiness {
            ready: true,
            body: serde_json::json!({
                "status": "ready",
                "streams": state.hub.streams(),
                "actions": state.actions.enabled(),
            }),
        }
    } else {
        Readiness {
            ready: false,
            body: serde_json::json!({"status": "loading"}),
        }
    }
}

/// A 303 to `to`, never cached.
pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `GET /`: the board, or the way to the login.
pub async fn board(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    Ok(match auth::session(&req, &state).await? {
        Some(s) => pages::board(&s.name, s.role.as_str()),
        None => see_other("/login"),
    })
}

/// `GET /assets/{name}`.
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match pages::asset(&path) {
        Some(r) => r,
        None => telemetry::not_found().await,
    }
}

/// `GET /login`: the form (or the board, when logged in already).
pub async fn login_page(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    Ok(match auth::session(&req, &state).await? {
        Some(_) => see_other("/"),
        None => pages::login(StatusCode::OK, None),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// `POST /login`: checks the origin, the rate limit and the password; on
/// success opens a session and sends the browser to the board.
pub async fn login(
    req: HttpRequest,
    state: Data,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, BoardError> {
    if let Err(e) = auth::check_origin(&req, state.cfg.public_origin.as_deref()) {
        return Ok(pages::login(StatusCode::FORBIDDEN, Some(&e.to_string())));
    }
    let LoginForm { username, password } = form.into_inner();
    let name = username.trim().to_lowercase();
    let address = telemetry::client_ip(&req, &state.cfg.trusted_proxies);
    // A name or a password no account can have (a NUL, a control
    // character, too long) is refused as a wrong one, at once: no query,
    // no check, nothing counted. It reveals nothing (no user has such a
    // name or password), and costs a stranger's flood of them nothing.
    if users::validate_name(&name).is_err() || !users::could_be_password(&password) {
        metrics::counter!("switchboard_board_logins_total", "outcome" => "malformed").increment(1);
        tracing::info!(address = ?address, "login refused: a user name or password no account can have");
        return Ok(wrong_login());
    }
    let limit = state.cfg.login_limit();
    let mut conn = state.conn().await?;
    if let access::Attempt::Blocked(wait) =
        access::begin_login(&mut conn, limit, &name, address).await?
    {
        metrics::counter!("switchboard_board_logins_total", "outcome" => "rate_limited")
            .increment(1);
        tracing::warn!(user = ?name, address = ?address, "login refused: too many failures");
        let mut r = pages::login(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed logins. Try again in {} minute(s).",
                wait.as_secs().div_ceil(60)
            )),
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let stored = users::lookup(&mut conn, &name).await?;
    drop(conn);
    // Each check costs ~19 MiB and tens of milliseconds of CPU: a few at
    // a time, on the blocking pool, so that a flood of logins costs bounded
    // memory and never stalls the event streams.
    let permit = tokio::time::timeout(state.cfg.db_timeout, state.password_checks.acquire())
        .await
        .map_err(|_| BoardError::Unavailable("too many logins at once; try again".into()))?
        .map_err(|_| BoardError::Unavailable("shutting down".into()))?;
    // In the memory of the board's pool of checks (at most
    // BOARD_PASSWORD_CHECKS buffers of 19 MiB, kept and reused).
    let st = state.clone();
    let user = web::block(move || st.checks.check(stored, &password))
        .await
        .map_err(|_| BoardError::Unavailable("the password check failed; try again".into()))?;
    metrics::gauge!("switchboard_board_password_buffers").set(state.checks.buffers() as f64);
    drop(permit);
    let mut conn = state.conn().await?;
    let Some(user) = user else {
        // Counted already, by begin_login.
        metrics::counter!("switchboard_board_logins_total", "outcome" => "failed").increment(1);
        tracing::info!(user = ?name, address = ?address, "login failed");
        return Ok(wrong_login());
    };
    access::clear_login_failures(&mut conn, &name).await?;
    let (secret, _expires) =
        access::open_session(&mut conn, user.id, state.cfg.session_ttl, address).await?;
    metrics::counter!("switchboard_board_logins_total", "outcome" => "ok").increment(1);
    tracing::info!(user = %user.name, role = %user.role, address = ?address, "logged in");
    let mut r = see_other("/");
    r.add_cookie(&auth::session_cookie(
        secret.expose(),
        state.cfg.session_ttl,
        state.cfg.cookie_secure,
    ))
    .map_err(|e| BoardError::BadRequest(e.to_string()))?;
    Ok(r)
}

/// The answer to a login with a wrong name or password, whatever was wrong.
fn wrong_login() -> HttpResponse {
    pages::login(
        StatusCode::UNAUTHORIZED,
        Some("Wrong user name or password."),
    )
}

/// `POST /logout`: ends the session.
pub async fn logout(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    auth::check_origin(&req, state.cfg.public_origin.as_deref())?;
    if let Some(value) = auth::cookie_value(&req) {
        let mut conn = state.conn().await?;
        access::close_session(&mut conn, &value).await?;
    }
    let mut r = see_other("/login");
    r.add_cookie(&auth::cleared_cookie(state.cfg.cookie_secure))
        .map_err(|e| BoardError::BadRequest(e.to_string()))?;
    Ok(r)
}

/// `GET /api/me`: who is logged in.
pub async fn me(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let s = auth::require_session(&req, &state).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "name": s.name, "role": s.role.as_str(), "expires_at": s.expires_at,
    })))
}

#[derive(Deserialize)]
pub struct ExtensionsQuery {
    source: Option<String>,
}

/// `GET /api/extensions[?source=S]`: every extension's card, as the board
/// shows it now; 400 for a source that is no source name.
pub async fn api_extensions(
    req: HttpRequest,
    state: Data,
    q: web::Query<ExtensionsQuery>,
) -> Result<HttpResponse, BoardError> {
    let reader = auth::require_reader(&req, &state).await?;
    let source = input::optional_source(q.source.as_deref())?;
    tracing::debug!(%reader, "extensions read");
    let mut cards = state.hub.cards()?;
    if let Some(source) = source {
        cards.retain(|c| c.extension.source == source);
    }
    Ok(HttpResponse::Ok().json(cards))
}

#[derive(Deserialize)]
pub struct CallsQuery {
    #[serde(default)]
    active: bool,
    source: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/calls[?active=true][&source=S][&limit=N]`: calls, newest
/// first (only those not ended with `active=true`); at most `limit`
/// (default 100, at most 1,000); 400 for a source that is no source name.
pub async fn api_calls(
    req: HttpRequest,
    state: Data,
    q: web::Query<CallsQuery>,
) -> Result<HttpResponse, BoardError> {
    let reader = auth::require_reader(&req, &state).await?;
    let source = input::optional_source(q.source.as_deref())?;
    tracing::debug!(%reader, active = q.active, "calls read");
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    let mut conn = state.conn().await?;
    let calls = if q.active {
        domain::projection::read::active_calls(&mut conn, source, limit).await?
    } else {
        domain::projection::read::recent_calls(&mut conn, source, limit).await?
    };
    Ok(HttpResponse::Ok().json(calls))
}

/// `POST /api/calls/{source}/{call_id}/hangup` with `{"leg_id": ...}`:
/// operators (and supervisors) only, same origin only; one of the
/// actions of `actions::routes`. Hangs the leg up through the source's
/// phone system API (see `actions`): 200 `{"result"}` once the provider
/// accepted it (the card changes when its webhook arrives); otherwise
/// `{"error"}` with 404 (the call is not on the board), 409 (ended, another
/// action in flight, no API settings), 502 (the provider refused, or cannot
/// be reached: its message), 504 (no answer in time). Audited.
pub async fn hangup(
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, BoardError> {
    actions::routes::on_call(req, state, path, body, "hangup").await
}
