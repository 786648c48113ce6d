//! The operators' console (issue 24, docs/events.md "Console"): the page
//! `GET /console` and the JSON API under `/api/console/` it reads and
//! acts through. **In** (`inbox`): the inbound events, searched and read
//! one by one, dead ones replayed. **Out** (`outbox`): each endpoint's
//! deliveries, one resent, the given-up ones since a time recovered.
//!
//! Operators and supervisors only, with a session (no API token): a viewer
//! gets 403, nobody else 401. Every action is a POST checked for its
//! origin and audited in `console_actions` (`store::console`).

pub mod inbox;
pub mod outbox;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use store::access::Session;
use store::users::Role;

use crate::auth;
use crate::error::BoardError;
use crate::pages::escape;
use crate::State;

type Data = web::Data<State>;

const CONSOLE_HTML: &str = include_str!("../../assets/console.html");

/// The assets of this module: name, body, content type.
const ASSETS: [(&str, &str, &str); 2] = [
    (
        "console.js",
        include_str!("../../assets/console.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "console.css",
        include_str!("../../assets/console.css"),
        "text/css; charset=utf-8",
    ),
];

/// An asset of this module by name.
pub fn asset(name: &str) -> Option<HttpResponse> {
    let (_, body, kind) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    Some(
        HttpResponse::Ok()
            .content_type(*kind)
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(*body),
    )
}

/// Registers the console's routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(page))
        .route("/api/console/events", web::get().to(inbox::search))
        .route("/api/console/events/{id}", web::get().to(inbox::event))
        .route(
            "/api/console/events/{id}/replay",
            web::post().to(inbox::replay),
        )
        .route(
            "/api/console/replay-dead",
            web::post().to(inbox::replay_dead),
        )
        .route("/api/console/endpoints", web::get().to(outbox::endpoints))
        .route(
            "/api/console/endpoints/{name}/deliveries",
            web::get().to(outbox::deliveries),
        )
        .route(
            "/api/console/endpoints/{name}/resend",
            web::post().to(outbox::resend),
        )
        .route(
            "/api/console/endpoints/{name}/recover",
            web::post().to(outbox::recover),
        );
}

/// The request's session when it is an operator's or a supervisor's: 401
/// without a session, 403 for a viewer.
pub async fn operator(req: &HttpRequest, state: &State) -> Result<Session, BoardError> {
    let s = auth::require_session(req, state).await?;
    if !s.role.may(Role::Operator) {
        tracing::info!(user = %s.name, path = req.path(), "console refused: not an operator");
        return Err(BoardError::Forbidden(
            "only operators and supervisors may use the console",
        ));
    }
    Ok(s)
}

/// [`operator`] of a state-changing request, whose origin is checked
/// first (403 from another site).
pub async fn acting_operator(req: &HttpRequest, state: &State) -> Result<Session, BoardError> {
    auth::check_origin(req, state.cfg.public_origin.as_deref())?;
    operator(req, state).await
}

/// A JSON body as `T`, or 400 with `hint`.
pub fn body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    hint: &'static str,
) -> Result<T, BoardError> {
    serde_json::from_slice(bytes).map_err(|_| BoardError::BadRequest(hint.into()))
}

/// A page size: `default` when absent, 400 outside 1..=`max`.
pub fn limit(v: Option<u32>, default: i64, max: i64) -> Result<i64, BoardError> {
    match v {
        None => Ok(default),
        Some(n) if n >= 1 && i64::from(n) <= max => Ok(i64::from(n)),
        Some(_) => Err(BoardError::BadRequest(format!("invalid limit: 1 to {max}"))),
    }
}

/// A JSON answer that no cache keeps.
pub use crate::pages::no_store;

/// `GET /console`: the page for an operator or supervisor, 403 for a
/// viewer, the way to the login for anyone else.
pub async fn page(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let Some(s) = auth::session(&req, &state).await? else {
        return Ok(crate::routes::see_other("/login"));
    };
    if !s.role.may(Role::Operator) {
        return Err(BoardError::Forbidden(
            "only operators and supervisors may use the console",
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(
            CONSOLE_HTML
                .replace("{{user}}", &escape(&s.name))
                .replace("{{role}}", &escape(s.role.as_str())),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_and_template() {
        for (name, _, _) in ASSETS {
            assert!(asset(name).is_some(), "{name}");
        }
        assert!(CONSOLE_HTML.contains("{{user}}") && CONSOLE_HTML.contains("{{role}}"));
        assert!(!CONSOLE_HTML.contains("<script>"), "no inline script");
        assert!(!CONSOLE_HTML.contains("style="), "no inline style");
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None, 50, 200).ok(), Some(50));
        assert_eq!(limit(Some(200), 50, 200).ok(), Some(200));
        assert!(limit(Some(0), 50, 200).is_err());
        assert!(limit(Some(201), 50, 200).is_err());
    }
}
