//! The call centre's pages and assets, compiled into the binary: the
//! history page (`GET /history`, a session), the wallboard (`GET
//! /wallboard`, opened with an API token in the URL's fragment: see
//! `assets/wallboard.js` and docs/board.md), and the board's call-centre
//! scripts and styles.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::auth;
use crate::error::BoardError;
use crate::pages::escape;
use crate::State;

const HISTORY_HTML: &str = include_str!("../../assets/history.html");
const WALLBOARD_HTML: &str = include_str!("../../assets/wallboard.html");

/// The assets of this module: name, body, content type.
const ASSETS: [(&str, &str, &str); 7] = [
    ("queues.js", include_str!("../../assets/queues.js"), JS),
    ("missed.js", include_str!("../../assets/missed.js"), JS),
    ("compact.js", include_str!("../../assets/compact.js"), JS),
    ("history.js", include_str!("../../assets/history.js"), JS),
    (
        "wallboard.js",
        include_str!("../../assets/wallboard.js"),
        JS,
    ),
    (
        "callcentre.css",
        include_str!("../../assets/callcentre.css"),
        CSS,
    ),
    (
        "wallboard.css",
        include_str!("../../assets/wallboard.css"),
        CSS,
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

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

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `GET /history`: the search page for a logged-in person, or the way to
/// the login.
pub async fn history(
    req: HttpRequest,
    state: actix_web::web::Data<State>,
) -> Result<HttpResponse, BoardError> {
    Ok(match auth::session(&req, &state).await? {
        Some(s) => html(
            HISTORY_HTML
                .replace("{{user}}", &escape(&s.name))
                .replace("{{role}}", &escape(s.role.as_str())),
        ),
        None => crate::routes::see_other("/login"),
    })
}

/// `GET /wallboard`: the page (it holds no data; its script reads the
/// token from the URL's fragment, which browsers never send, and reads
/// the API with it).
pub async fn wallboard() -> HttpResponse {
    html(WALLBOARD_HTML.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_served_and_templates_have_placeholders() {
        for (name, _, _) in ASSETS {
            assert!(asset(name).is_some(), "{name}");
        }
        assert!(asset("board.js").is_none(), "the board's own are in pages");
        assert!(HISTORY_HTML.contains("{{user}}") && HISTORY_HTML.contains("{{role}}"));
        for page in [HISTORY_HTML, WALLBOARD_HTML] {
            assert!(!page.contains("<script>"), "no inline script");
            assert!(!page.contains("style="), "no inline style");
        }
    }
}
