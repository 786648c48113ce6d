//! The board's one error type, and how each variant answers over HTTP.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// No valid session or token.
    #[error("log in first")]
    Unauthorized,
    /// Logged in, but not allowed (a viewer acting, a foreign origin).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed logins: try again after this long.
    #[error("too many failed logins; try again in {} s", .0.as_secs())]
    RateLimited(Duration),
    /// The state is not loaded yet, the database is unreachable, or too
    /// many logins are being checked.
    #[error("{0}")]
    Unavailable(String),
    /// No such thing (a call no longer on the board).
    #[error("{0}")]
    NotFound(String),
    /// Not now: the call ended, another action runs, the source cannot.
    #[error("{0}")]
    Conflict(String),
    /// The phone system refused, or could not be reached.
    #[error("{0}")]
    BadGateway(String),
    /// The phone system did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
}

impl From<store::access::AccessError> for BoardError {
    fn from(e: store::access::AccessError) -> Self {
        tracing::error!(error = %e, "session storage failed");
        BoardError::Unavailable("the database is unavailable; try again".into())
    }
}

impl From<store::users::UserError> for BoardError {
    fn from(e: store::users::UserError) -> Self {
        tracing::error!(error = %e, "user storage failed");
        BoardError::Unavailable("the database is unavailable; try again".into())
    }
}

impl From<diesel::result::Error> for BoardError {
    fn from(e: diesel::result::Error) -> Self {
        tracing::error!(error = %e, "query failed");
        BoardError::Unavailable("the database is unavailable; try again".into())
    }
}

impl From<crate::hub::NotReady> for BoardError {
    fn from(e: crate::hub::NotReady) -> Self {
        BoardError::Unavailable(e.to_string())
    }
}

impl ResponseError for BoardError {
    fn status_code(&self) -> StatusCode {
        match self {
            BoardError::Unauthorized => StatusCode::UNAUTHORIZED,
            BoardError::Forbidden(_) => StatusCode::FORBIDDEN,
            BoardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            BoardError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            BoardError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BoardError::NotFound(_) => StatusCode::NOT_FOUND,
            BoardError::Conflict(_) => StatusCode::CONFLICT,
            BoardError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            BoardError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if let BoardError::RateLimited(d) = self {
            r.insert_header(("Retry-After", d.as_secs().max(1).to_string()));
        }
        if let BoardError::Unavailable(_) = self {
            r.insert_header(("Retry-After", "2"));
        }
        r.json(serde_json::json!({ "error": self.to_string() }))
    }
}
