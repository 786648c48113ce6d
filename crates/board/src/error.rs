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
    /// Over a cap (open event streams): nothing to wait for, close one.
    #[error("{0}")]
    TooMany(String),
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

/// A failed statement as the request sees it: the database's fault (503,
/// logged as an error), or a value of the request the database refused (a
/// constraint, a NUL byte, a value too long: 400, logged as a warning,
/// because the checks at the edge should have stopped it first). A
/// client's mistake is never reported as an outage.
fn statement(e: diesel::result::Error) -> BoardError {
    let e = store::Error::Query(e);
    if e.is_unavailable() {
        tracing::error!(error = %e, "query failed");
        BoardError::Unavailable("the database is unavailable; try again".into())
    } else {
        tracing::warn!(error = %e, "the database refused a value of the request");
        BoardError::BadRequest("the request holds a value the board cannot store or look up".into())
    }
}

impl From<store::access::AccessError> for BoardError {
    fn from(e: store::access::AccessError) -> Self {
        use store::access::AccessError as E;
        match e {
            E::Query(e) => statement(e),
            E::Random | E::StoredRole(_) => {
                tracing::error!(error = %e, "session storage failed");
                BoardError::Unavailable("the board cannot check sessions now; try again".into())
            }
            E::BadName(_) | E::NoToken(_) | E::TokenExists(_) => {
                BoardError::BadRequest(e.to_string())
            }
        }
    }
}

impl From<store::users::UserError> for BoardError {
    fn from(e: store::users::UserError) -> Self {
        use store::users::UserError as E;
        match e {
            E::Query(e) => statement(e),
            E::StoredRole { .. } | E::Hash(_) => {
                tracing::error!(error = %e, "user storage failed");
                BoardError::Unavailable("the board cannot check users now; try again".into())
            }
            E::BadName(_)
            | E::BadRole(_)
            | E::BadExtension(_)
            | E::PasswordTooShort
            | E::PasswordTooLong
            | E::PasswordControl
            | E::NoUser(_) => BoardError::BadRequest(e.to_string()),
        }
    }
}

impl From<diesel::result::Error> for BoardError {
    fn from(e: diesel::result::Error) -> Self {
        statement(e)
    }
}

impl From<store::Error> for BoardError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Query(e) => statement(e),
            e => {
                tracing::error!(error = %e, "query failed");
                BoardError::Unavailable("the database is unavailable; try again".into())
            }
        }
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
            BoardError::RateLimited(_) | BoardError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as D};

    fn db(kind: DatabaseErrorKind, message: &str) -> D {
        D::DatabaseError(kind, Box::new(message.to_string()))
    }

    #[test]
    fn a_value_the_database_refuses_is_the_requests_fault() {
        for e in [
            db(
                DatabaseErrorKind::Unknown,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ),
            db(
                DatabaseErrorKind::Unknown,
                "value too long for type character varying(63)",
            ),
            db(
                DatabaseErrorKind::CheckViolation,
                "new row violates check constraint",
            ),
        ] {
            let b = BoardError::from(e);
            assert_eq!(b.status_code(), StatusCode::BAD_REQUEST, "{b}");
        }
    }

    #[test]
    fn an_unreachable_database_is_unavailable() {
        for e in [
            db(DatabaseErrorKind::ClosedConnection, "connection closed"),
            db(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            db(
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
        ] {
            let b = BoardError::from(e);
            assert_eq!(b.status_code(), StatusCode::SERVICE_UNAVAILABLE, "{b}");
            assert!(b.error_response().headers().contains_key("retry-after"));
        }
        let b = BoardError::from(store::access::AccessError::Query(db(
            DatabaseErrorKind::UnableToSendCommand,
            "broken pipe",
        )));
        assert_eq!(b.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn over_a_cap_is_429_without_retry_after() {
        let b = BoardError::TooMany("too many".into());
        assert_eq!(b.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert!(!b.error_response().headers().contains_key("retry-after"));
    }
}
