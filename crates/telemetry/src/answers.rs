//! The answers every HTTP server of Switchboard gives alike: `/healthz`
//! and the one 404 body, on the public ports and the operators' ports.

use actix_web::HttpResponse;
use serde_json::json;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Any route that does not exist: 404 `{"error":"not_found","message":"no
/// such route"}`, the same on every server.
pub async fn not_found() -> HttpResponse {
    not_found_because("no such route")
}

/// A 404 with the one body's shape and `message`.
pub(crate) fn not_found_because(message: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": message}))
}
