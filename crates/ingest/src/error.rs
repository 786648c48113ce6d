//! The one error of a webhook request, and the HTTP answer each case gets.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use domain::signature::SignatureError;
use serde_json::json;

/// Why a webhook was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// 413: the body is over the limit.
    #[error("body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    /// 400: the request could not be read.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no enabled source of that name (or a name no source can have).
    #[error("no enabled source by that name")]
    NoSource,
    /// 408: the body did not arrive within the deadline.
    #[error("the body did not arrive within {} s", .0.as_secs())]
    BodyTimeout(std::time::Duration),
    /// 400: the database refused the event for what it holds.
    #[error("the event cannot be stored as sent (a field is malformed or too large)")]
    Rejected,
    /// 403: the sender's address is outside the source's allowed networks.
    #[error("this source does not accept webhooks from your network")]
    Forbidden,
    /// 401: the signature does not verify (400 when the signature headers
    /// are malformed: oversized, too many entries, a non-integer timestamp).
    #[error(transparent)]
    Unauthorized(#[from] SignatureError),
    /// 503: the database is unavailable; nothing was stored.
    #[error("storage is unavailable; retry later")]
    Unavailable,
}

impl IngestError {
    /// The machine-readable `error` code of the JSON answer, also the
    /// `outcome` label of the request metrics.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::TooLarge(_) => "too_large",
            IngestError::BadRequest(_) => "bad_request",
            IngestError::NoSource => "not_found",
            IngestError::BodyTimeout(_) => "body_timeout",
            IngestError::Rejected => "rejected",
            IngestError::Unauthorized(e) if e.is_bad_request() => "bad_request",
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::Forbidden => "forbidden",
            IngestError::Unavailable => "unavailable",
        }
    }

    /// A 503, logging what made the database unavailable.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable: answering 503");
        IngestError::Unavailable
    }

    /// A 503 for `e`, logging it with its cause (`disk_full`, `read_only`,
    /// ...: see [`store::Cause`]).
    pub fn db_unavailable(e: &store::Error) -> Self {
        let cause = e.cause().map_or("other", store::Cause::as_str);
        tracing::warn!(cause, error = %e, "database unavailable: answering 503");
        IngestError::Unavailable
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::NoSource => StatusCode::NOT_FOUND,
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::Rejected => StatusCode::BAD_REQUEST,
            IngestError::Unauthorized(e) if e.is_bad_request() => StatusCode::BAD_REQUEST,
            IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngestError::Forbidden => StatusCode::FORBIDDEN,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status_code());
        if matches!(self, IngestError::Unavailable) {
            b.insert_header(("Retry-After", "5"));
        }
        b.json(json!({"error": self.code(), "message": self.to_string()}))
    }
}
