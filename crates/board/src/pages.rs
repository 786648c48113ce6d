//! The page and its assets, compiled into the binary: no build step, no
//! files to deploy beside it.

use actix_web::http::header;
use actix_web::HttpResponse;

const BOARD_HTML: &str = include_str!("../assets/board.html");
const LOGIN_HTML: &str = include_str!("../assets/login.html");
const BOARD_JS: &str = include_str!("../assets/board.js");
const BOARD_CSS: &str = include_str!("../assets/board.css");
const ACTIONS_JS: &str = include_str!("../assets/actions.js");
const ACTIONS_CSS: &str = include_str!("../assets/actions.css");

/// The security headers of every answer: nothing but the board's own
/// scripts, styles and connections; no framing; no referrer; no sniffing.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    // `same-origin`, not `no-referrer`: with `no-referrer` a browser sends
    // `Origin: null` even on same-origin POSTs, which the CSRF check refuses.
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
];

/// Escapes text for an HTML attribute or element.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// The board page for `user` with `role`.
pub fn board(user: &str, role: &str) -> HttpResponse {
    html(
        actix_web::http::StatusCode::OK,
        BOARD_HTML
            .replace("{{user}}", &escape(user))
            .replace("{{role}}", &escape(role)),
    )
}

/// The login page with `status`, showing `error` if any.
pub fn login(status: actix_web::http::StatusCode, error: Option<&str>) -> HttpResponse {
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    html(status, LOGIN_HTML.replace("{{error}}", &error))
}

/// An asset by name: `board.js`, `board.css`, `actions.js`, `actions.css`.
pub fn asset(name: &str) -> Option<HttpResponse> {
    let (body, kind) = match name {
        "actions.js" => (ACTIONS_JS, "text/javascript; charset=utf-8"),
        "actions.css" => (ACTIONS_CSS, "text/css; charset=utf-8"),
        "board.js" => (BOARD_JS, "text/javascript; charset=utf-8"),
        "board.css" => (BOARD_CSS, "text/css; charset=utf-8"),
        _ => return crate::callcentre::pages::asset(name).or_else(|| crate::console::asset(name)),
    };
    Some(
        HttpResponse::Ok()
            .content_type(kind)
            // Short: a new version of the binary serves new assets soon.
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(body),
    )
}

/// A 200 answer that no cache keeps (the JSON API's and the console's).
pub fn no_store() -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_their_placeholders() {
        assert!(BOARD_HTML.contains("{{user}}") && BOARD_HTML.contains("{{role}}"));
        assert!(LOGIN_HTML.contains("{{error}}"));
        assert!(
            LOGIN_HTML.contains("name=\"username\"") && LOGIN_HTML.contains("name=\"password\"")
        );
        assert!(BOARD_HTML.contains("id=\"board\"") && BOARD_HTML.contains("data-alerts=\"0\""));
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
