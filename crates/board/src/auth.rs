//! Who is asking, and whether they may: the session cookie, API tokens,
//! and the origin check of state-changing requests (CSRF).

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;
use store::access::{self, Session};

use crate::error::BoardError;
use crate::State;

/// The session cookie's name.
pub const COOKIE: &str = "sb_session";

/// The session cookie carrying `value` for `max_age`.
pub fn session_cookie(value: &str, max_age: std::time::Duration, secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie("", std::time::Duration::ZERO, secure);
    c.make_removal();
    c
}

/// The session cookie's value, if the request carries one of a session's
/// shape; any other value (a NUL, 1,000 bytes: actix decodes `%00`) is no
/// session, and is never looked up.
pub fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| access::session_shaped(v))
}

/// The request's valid session, if any.
pub async fn session(req: &HttpRequest, state: &State) -> Result<Option<Session>, BoardError> {
    let Some(value) = cookie_value(req) else {
        return Ok(None);
    };
    let mut conn = state.conn().await?;
    Ok(access::session(&mut conn, &value).await?)
}

/// The request's valid session, or 401.
pub async fn require_session(req: &HttpRequest, state: &State) -> Result<Session, BoardError> {
    session(req, state).await?.ok_or(BoardError::Unauthorized)
}

/// Who may read the JSON API: a logged-in person or an API token.
#[derive(Debug)]
pub enum Reader {
    Session(Session),
    /// The token's name.
    Token(String),
}

impl std::fmt::Display for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reader::Session(s) => write!(f, "user:{}", s.name),
            Reader::Token(t) => write!(f, "token:{t}"),
        }
    }
}

/// The `Authorization: Bearer` token of the request, if it has one of a
/// token's shape (never looked up here).
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|v| access::token_shaped(v))
}

/// The request's reader: `Authorization: Bearer <token>` when present
/// (and then only that), otherwise the session cookie; 401 without either,
/// and for a token not of a token's shape (not looked up).
pub async fn require_reader(req: &HttpRequest, state: &State) -> Result<Reader, BoardError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let value = bearer(req).ok_or(BoardError::Unauthorized)?;
        let mut conn = state.conn().await?;
        return access::token(&mut conn, value)
            .await?
            .map(Reader::Token)
            .ok_or(BoardError::Unauthorized);
    }
    require_session(req, state).await.map(Reader::Session)
}

/// Refuses a state-changing request that a browser sent from another
/// site: its `Origin` (or, lacking that, `Referer`) must be the configured
/// public origin or the origin of the request's own `Host`. A request with
/// neither header is refused too (every browser sends `Origin` on a POST).
pub fn check_origin(req: &HttpRequest, public_origin: Option<&str>) -> Result<(), BoardError> {
    const REFUSED: BoardError =
        BoardError::Forbidden("cross-origin request refused: reload the board and try again");
    if req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return Err(REFUSED);
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(origin_of_url)
        })
        .ok_or(REFUSED)?;
    let origin = origin.trim_end_matches('/');
    if public_origin.is_some_and(|p| p.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or(REFUSED)?;
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or(REFUSED)?;
    if authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(REFUSED)
    }
}

/// `scheme://authority` of a URL.
fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::post().uri("/logout");
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn same_origin_passes() {
        let r = req(&[
            ("host", "board.test:8090"),
            ("origin", "http://board.test:8090"),
        ]);
        assert!(check_origin(&r, None).is_ok());
        let r = req(&[
            ("host", "board.test:8090"),
            ("referer", "http://board.test:8090/login?x=1"),
        ]);
        assert!(check_origin(&r, None).is_ok());
        let r = req(&[
            ("host", "10.0.0.5:8090"),
            ("origin", "https://board.example.com"),
        ]);
        assert!(check_origin(&r, Some("https://board.example.com/")).is_ok());
    }

    #[test]
    fn other_origins_are_refused() {
        for h in [
            vec![("host", "board.test"), ("origin", "https://evil.test")],
            vec![
                ("host", "board.test"),
                ("origin", "https://board.test.evil.test"),
            ],
            vec![("host", "board.test"), ("origin", "null")],
            vec![("host", "board.test")],
            vec![
                ("host", "board.test"),
                ("referer", "https://evil.test/board.test"),
            ],
            vec![
                ("host", "board.test"),
                ("origin", "http://board.test"),
                ("sec-fetch-site", "cross-site"),
            ],
        ] {
            assert!(check_origin(&req(&h), None).is_err(), "{h:?}");
        }
        let r = req(&[("host", "board.test"), ("origin", "https://evil.test")]);
        assert!(check_origin(&r, Some("https://board.example.com")).is_err());
    }
}
