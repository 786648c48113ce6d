//! Bad input on every route and parameter: a NUL byte, another control
//! character, or a value longer than anything the board accepts, in a form
//! field, a query parameter, a path segment, a JSON body, the session
//! cookie, the bearer token, `Last-Event-ID` and `Origin`. Each is answered
//! like any other bad input (4xx, or the answer to no cookie at all), never
//! 5xx; none changes the database or logs an error.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use testkit::{Board, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{http, login, login_raw, OPERATOR, PBX_SECRET, VIEWER, WAIT};

/// Longer than any text the board accepts (names 63, ids 200 bytes), well
/// under the form limit.
const LONG: usize = 1000;

/// One request with one bad value, and the answer it must get.
struct Case {
    route: &'static str,
    param: &'static str,
    value: &'static str,
    expect: u16,
    rq: RequestBuilder,
}

/// The board's own session cookie value with a NUL in the middle, percent-
/// encoded (actix decodes cookie values): 43 bytes once decoded, the
/// length of a real one.
fn nul_cookie() -> String {
    format!("sb_session={}%00{}", "a".repeat(21), "a".repeat(21))
}

fn long_cookie() -> String {
    format!("sb_session={}", "a".repeat(LONG))
}

/// The status of a raw HTTP/1.1 request sent as bytes (for what no client
/// library sends: a NUL byte in a header).
async fn raw_status(port: u16, request: &[u8]) -> u16 {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.write_all(request).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read");
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"))
}

#[tokio::test]
async fn nul_bytes_and_over_long_values_get_4xx_everywhere_and_change_nothing() -> anyhow::Result<()>
{
    let s = Stack::builder()
        .migrate()
        .yeastar("pbx", PBX_SECRET)
        .user(OPERATOR.0, "operator", OPERATOR.1)
        .user(VIEWER.0, "viewer", VIEWER.1)
        .wait(WAIT)
        .start()
        .await?;
    let (board, logs) = Board::start_logged(&s.db.url, &[], &[]).await?;
    let url = board.url();
    let own = url.as_str();
    let token = testkit::worker_ok(&s.db.url, &["token", "add", "crm"]).await?;
    let bearer = format!("Bearer {}", token.trim());
    let cookie = login(own, OPERATOR.0, OPERATOR.1).await;
    let wrong_body = login_raw(own, OPERATOR.0, "not the password at all")
        .await
        .text()
        .await?;
    let before = s.db.counts().await?;

    let long = "a".repeat(LONG);
    let long_origin = format!("http://{long}");
    let (nul_cookie, long_cookie) = (nul_cookie(), long_cookie());
    let c = http();
    let rq = |m: Method, path: &str| c.request(m, format!("{url}{path}"));
    let login_form = |user: &str, password: &str| {
        rq(Method::POST, "/login")
            .header("Origin", own)
            .form(&[("username", user), ("password", password)])
    };
    let hangup = |path: &str, body: &str| {
        rq(Method::POST, path)
            .header("Origin", own)
            .header("Cookie", &cookie)
            .header("Content-Type", "application/json")
            .body(body.to_string())
    };
    let api = |path: &str| rq(Method::GET, path).header("Authorization", &bearer);
    let with_cookie = |m: Method, path: &str, value: &str| {
        rq(m, path).header("Origin", own).header("Cookie", value)
    };
    let long_leg = format!(r#"{{"leg_id": "{long}"}}"#);
    let mut cases = vec![
        // POST /login: refused like a wrong password (401, the same page).
        Case {
            route: "POST /login",
            param: "username",
            value: "NUL",
            expect: 401,
            rq: login_form("a\0b", "not the password at all"),
        },
        Case {
            route: "POST /login",
            param: "username",
            value: "control (U+0001)",
            expect: 401,
            rq: login_form("a\u{1}b", "not the password at all"),
        },
        Case {
            route: "POST /login",
            param: "username",
            value: "1,000 bytes",
            expect: 401,
            rq: login_form(&long, "not the password at all"),
        },
        Case {
            route: "POST /login",
            param: "password",
            value: "NUL",
            expect: 401,
            rq: login_form(OPERATOR.0, "a\0b"),
        },
        Case {
            route: "POST /login",
            param: "password",
            value: "2,000 bytes",
            expect: 401,
            rq: login_form(OPERATOR.0, &"p".repeat(2 * LONG)),
        },
        Case {
            route: "POST /login",
            param: "Origin",
            value: "1,000 bytes",
            expect: 403,
            rq: rq(Method::POST, "/login")
                .header("Origin", &long_origin)
                .form(&[("username", "x"), ("password", "y")]),
        },
        // A cookie that cannot be a session is no session.
        Case {
            route: "GET /login",
            param: "cookie",
            value: "NUL",
            expect: 200,
            rq: with_cookie(Method::GET, "/login", &nul_cookie),
        },
        Case {
            route: "GET /login",
            param: "cookie",
            value: "1,000 bytes",
            expect: 200,
            rq: with_cookie(Method::GET, "/login", &long_cookie),
        },
        Case {
            route: "GET /",
            param: "cookie",
            value: "NUL",
            expect: 303,
            rq: with_cookie(Method::GET, "/", &nul_cookie),
        },
        Case {
            route: "GET /",
            param: "cookie",
            value: "1,000 bytes",
            expect: 303,
            rq: with_cookie(Method::GET, "/", &long_cookie),
        },
        Case {
            route: "POST /logout",
            param: "cookie",
            value: "NUL",
            expect: 303,
            rq: with_cookie(Method::POST, "/logout", &nul_cookie),
        },
        Case {
            route: "POST /logout",
            param: "cookie",
            value: "1,000 bytes",
            expect: 303,
            rq: with_cookie(Method::POST, "/logout", &long_cookie),
        },
        Case {
            route: "POST /logout",
            param: "Origin",
            value: "1,000 bytes",
            expect: 403,
            rq: rq(Method::POST, "/logout")
                .header("Origin", &long_origin)
                .header("Cookie", &cookie),
        },
        Case {
            route: "GET /events",
            param: "cookie",
            value: "NUL",
            expect: 401,
            rq: with_cookie(Method::GET, "/events", &nul_cookie),
        },
        Case {
            route: "GET /events",
            param: "cookie",
            value: "1,000 bytes",
            expect: 401,
            rq: with_cookie(Method::GET, "/events", &long_cookie),
        },
        Case {
            route: "GET /api/me",
            param: "cookie",
            value: "NUL",
            expect: 401,
            rq: with_cookie(Method::GET, "/api/me", &nul_cookie),
        },
        Case {
            route: "GET /api/me",
            param: "cookie",
            value: "1,000 bytes",
            expect: 401,
            rq: with_cookie(Method::GET, "/api/me", &long_cookie),
        },
        // The JSON API.
        Case {
            route: "GET /api/extensions",
            param: "source",
            value: "NUL",
            expect: 400,
            rq: api("/api/extensions?source=a%00b"),
        },
        Case {
            route: "GET /api/extensions",
            param: "source",
            value: "1,000 bytes",
            expect: 400,
            rq: api(&format!("/api/extensions?source={long}")),
        },
        Case {
            route: "GET /api/extensions",
            param: "cookie",
            value: "NUL",
            expect: 401,
            rq: with_cookie(Method::GET, "/api/extensions", &nul_cookie),
        },
        Case {
            route: "GET /api/extensions",
            param: "Authorization",
            value: "%00 (not decoded)",
            expect: 401,
            rq: rq(Method::GET, "/api/extensions").header("Authorization", "Bearer sbt_a%00b"),
        },
        Case {
            route: "GET /api/extensions",
            param: "Authorization",
            value: "1,000 bytes",
            expect: 401,
            rq: rq(Method::GET, "/api/extensions")
                .header("Authorization", format!("Bearer sbt_{long}")),
        },
        Case {
            route: "GET /api/calls",
            param: "source",
            value: "NUL",
            expect: 400,
            rq: api("/api/calls?source=%00"),
        },
        Case {
            route: "GET /api/calls",
            param: "source (active=true)",
            value: "NUL",
            expect: 400,
            rq: api("/api/calls?source=a%00b&active=true"),
        },
        Case {
            route: "GET /api/calls",
            param: "source",
            value: "control (U+0001)",
            expect: 400,
            rq: api("/api/calls?source=a%01b"),
        },
        Case {
            route: "GET /api/calls",
            param: "source",
            value: "invalid UTF-8 (%FF)",
            expect: 400,
            rq: api("/api/calls?source=%FF"),
        },
        Case {
            route: "GET /api/calls",
            param: "source",
            value: "1,000 bytes",
            expect: 400,
            rq: api(&format!("/api/calls?source={long}")),
        },
        Case {
            route: "GET /api/calls",
            param: "active",
            value: "NUL",
            expect: 400,
            rq: api("/api/calls?active=%00"),
        },
        Case {
            route: "GET /api/calls",
            param: "limit",
            value: "NUL",
            expect: 400,
            rq: api("/api/calls?limit=%00"),
        },
        Case {
            route: "GET /api/calls",
            param: "Authorization",
            value: "1,000 bytes",
            expect: 401,
            rq: rq(Method::GET, "/api/calls").header("Authorization", format!("Bearer {long}")),
        },
        // Hang-up: path segments and the JSON body.
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "source",
            value: "NUL",
            expect: 400,
            rq: hangup("/api/calls/a%00b/c1/hangup", r#"{"leg_id": "l1"}"#),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "source",
            value: "1,000 bytes",
            expect: 400,
            rq: hangup(
                &format!("/api/calls/{long}/c1/hangup"),
                r#"{"leg_id": "l1"}"#,
            ),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "call_id",
            value: "NUL",
            expect: 400,
            rq: hangup("/api/calls/pbx/c%001/hangup", r#"{"leg_id": "l1"}"#),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "call_id",
            value: "1,000 bytes",
            expect: 400,
            rq: hangup(
                &format!("/api/calls/pbx/{long}/hangup"),
                r#"{"leg_id": "l1"}"#,
            ),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "leg_id",
            value: "NUL",
            expect: 400,
            rq: hangup("/api/calls/pbx/c1/hangup", r#"{"leg_id": "l\u0000"}"#),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "leg_id",
            value: "1,000 bytes",
            expect: 400,
            rq: hangup("/api/calls/pbx/c1/hangup", &long_leg),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "cookie",
            value: "NUL",
            expect: 401,
            rq: with_cookie(Method::POST, "/api/calls/pbx/c1/hangup", &nul_cookie)
                .body(r#"{"leg_id": "l1"}"#),
        },
        Case {
            route: "POST /api/calls/{source}/{call_id}/hangup",
            param: "Origin",
            value: "1,000 bytes",
            expect: 403,
            rq: rq(Method::POST, "/api/calls/pbx/c1/hangup")
                .header("Origin", &long_origin)
                .header("Cookie", &cookie)
                .body(r#"{"leg_id": "l1"}"#),
        },
        // Assets.
        Case {
            route: "GET /assets/{name}",
            param: "name",
            value: "NUL",
            expect: 404,
            rq: rq(Method::GET, "/assets/board%00.js"),
        },
        Case {
            route: "GET /assets/{name}",
            param: "name",
            value: "1,000 bytes",
            expect: 404,
            rq: rq(Method::GET, &format!("/assets/{long}")),
        },
    ];
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for case in cases.drain(..) {
        let r = case.rq.send().await.expect("request");
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        table.push(format!(
            "| {} | {} | {} | {status} |",
            case.route, case.param, case.value
        ));
        if status != case.expect {
            wrong.push(format!(
                "{} {} {}: {status} (expected {}): {}",
                case.route,
                case.param,
                case.value,
                case.expect,
                body.chars().take(200).collect::<String>()
            ));
        }
        if case.route == "POST /login" && case.param != "Origin" && body != wrong_body {
            wrong.push(format!(
                "{} {}: not answered exactly like a wrong password",
                case.param, case.value
            ));
        }
    }
    // The event stream: a Last-Event-ID that is no id of this board starts
    // from a snapshot (EventSource would not retry after a 4xx).
    for (value, id) in [
        ("1,000 bytes", long.clone()),
        ("%00 (not decoded)", "a%00b".into()),
    ] {
        let mut r = c
            .get(format!("{url}/events"))
            .header("Cookie", &cookie)
            .header("Last-Event-ID", id)
            .send()
            .await
            .expect("GET /events");
        let status = r.status().as_u16();
        table.push(format!(
            "| GET /events | Last-Event-ID | {value} | {status} |"
        ));
        if status != 200 {
            wrong.push(format!("GET /events Last-Event-ID {value}: {status}"));
        } else {
            let first = tokio::time::timeout(WAIT, r.chunk()).await;
            assert!(matches!(first, Ok(Ok(Some(_)))), "the stream starts");
        }
    }
    // A NUL byte itself in a header: the HTTP parser refuses it.
    let raw = format!(
        "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: sb_session=a\0b\r\nConnection: close\r\n\r\n",
        board.port
    );
    let status = raw_status(board.port, raw.as_bytes()).await;
    table.push(format!(
        "| GET /api/me | Cookie header | raw NUL byte | {status} |"
    ));
    if status != 400 {
        wrong.push(format!("raw NUL in a header: {status}"));
    }
    eprintln!(
        "| route | parameter | value | answer |\n|---|---|---|---|\n{}",
        table.join("\n")
    );
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));

    assert_eq!(s.db.counts().await?, before, "bad input changed nothing");
    let errors = logs.at_level("ERROR");
    assert!(errors.is_empty(), "no ERROR log line: {errors:#?}");
    // Still serving.
    assert_eq!(
        http()
            .get(format!("{url}/api/me"))
            .header("Cookie", &cookie)
            .send()
            .await?
            .status(),
        200
    );
    Ok(())
}
