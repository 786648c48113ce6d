//! The board over HTTP, as a browser and a CRM see it: logins and their
//! cookie, the login rate limit (shared by every instance), the origin
//! check of state-changing requests, session expiry and logout (which also
//! end open event streams), the event stream (snapshot, deltas, resuming
//! with `Last-Event-ID`, dropping a reader that falls behind), API tokens,
//! and the security headers of every answer.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{wait_until, Board, Counter, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traffic::scenario::{yeastar_snapshot, Member, Step};

use crate::helpers::{call, http, login, login_raw, metric, rss_kb, stack, OPERATOR, VIEWER, WAIT};

/// The Content-Security-Policy of every answer (docs/board.md).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Another site.
const EVIL: &str = "https://evil.example";
/// The body of a refused login, whatever was wrong.
const WRONG: &str = "Wrong user name or password.";

// ------------------------------------------------------------------ helpers

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// The attributes of a `Set-Cookie` value, lower-cased names (values kept).
fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| {
            let a = a.trim();
            match a.split_once('=') {
                Some((k, v)) => format!("{}={v}", k.to_ascii_lowercase()),
                None => a.to_ascii_lowercase(),
            }
        })
        .collect()
}

/// `GET url` with the session cookie `cookie` (if any).
async fn get(url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut rq = http().get(url);
    if let Some(c) = cookie {
        rq = rq.header("Cookie", c);
    }
    rq.send().await.expect("GET")
}

/// The status of `GET /api/me` with `cookie`.
async fn me(board: &str, cookie: &str) -> u16 {
    get(&format!("{board}/api/me"), Some(cookie))
        .await
        .status()
        .as_u16()
}

/// `POST path` on `board` with `origin` (if any) and `cookie` (if any).
async fn post(
    board: &str,
    path: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut rq = http()
        .post(format!("{board}{path}"))
        .header("Content-Type", "application/json")
        .body(r#"{"leg_id":"x"}"#);
    if let Some(o) = origin {
        rq = rq.header("Origin", o);
    }
    if let Some(c) = cookie {
        rq = rq.header("Cookie", c);
    }
    rq.send().await.expect("POST")
}

/// A login attempt from the loopback address `from` (the whole of
/// 127.0.0.0/8 reaches the board), with extra headers.
async fn login_from(
    board: &str,
    from: Ipv4Addr,
    user: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .local_address(IpAddr::V4(from))
        .build()
        .expect("client");
    let mut rq = c
        .post(format!("{board}/login"))
        .header("Origin", board)
        .form(&[("username", user), ("password", password)]);
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    rq.send().await.expect("login request")
}

/// Asserts `r` is a refused login (429) with a sensible `Retry-After`.
fn assert_rate_limited(r: &reqwest::Response, window_secs: u64, what: &str) {
    assert_eq!(r.status(), 429, "{what}");
    let after: u64 = header(r, "retry-after")
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=window_secs).contains(&after),
        "{what}: Retry-After {after}"
    );
    assert!(set_cookies(r).is_empty(), "{what}: no cookie when refused");
}

/// A client for long-lived streams (no overall timeout; reads are bounded
/// one by one).
fn stream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// One Server-Sent Events frame.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    raw: String,
    id: Option<String>,
    event: Option<String>,
    data: Option<Value>,
}

impl Frame {
    fn parse(raw: String) -> Frame {
        let mut f = Frame {
            raw: raw.clone(),
            id: None,
            event: None,
            data: None,
        };
        for line in raw.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                f.id = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("event: ") {
                f.event = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                f.data = Some(serde_json::from_str(v).expect("data is JSON"));
            }
        }
        f
    }

    fn is_ping(&self) -> bool {
        self.raw.starts_with(':')
    }

    fn is(&self, event: &str) -> bool {
        self.event.as_deref() == Some(event)
    }

    /// `(epoch, seq)` of the id.
    fn id_parts(&self) -> (String, u64) {
        let id = self.id.as_deref().expect("an id");
        let (epoch, seq) = id.split_once('-').expect("<epoch>-<seq>");
        assert!(
            epoch.len() == 8 && epoch.chars().all(|c| c.is_ascii_hexdigit()),
            "epoch of {id}"
        );
        (epoch.to_string(), seq.parse().expect("seq"))
    }

    /// The card of extension `number` in this frame, if any.
    fn card(&self, number: &str) -> Option<&Value> {
        self.data.as_ref()?["extensions"]
            .as_array()?
            .iter()
            .find(|c| c["number"] == number)
    }
}

/// An open `/events` stream, read frame by frame with bounded waits.
struct Sse {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Sse {
    /// Opens `/events` with `cookie` (and `Last-Event-ID: last`); asserts 200.
    async fn open(board: &str, cookie: &str, last: Option<&str>) -> Sse {
        let mut rq = stream_client()
            .get(format!("{board}/events"))
            .header("Cookie", cookie)
            .header("Accept", "text/event-stream");
        if let Some(id) = last {
            rq = rq.header("Last-Event-ID", id);
        }
        let resp = rq.send().await.expect("GET /events");
        assert_eq!(resp.status(), 200, "GET /events");
        let kind = header(&resp, "content-type").unwrap_or_default();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Sse {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next frame (comments included); `None` when the stream ended.
    /// Panics when none comes within `limit`.
    async fn frame(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let raw = String::from_utf8(self.buf[..i].to_vec()).expect("utf-8 frame");
                self.buf.drain(..i + 2);
                return Some(Frame::parse(raw));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Err(_) => panic!(
                    "no complete frame within {limit:?}; pending {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(Err(e)) => panic!("reading the event stream: {e}"),
                Ok(Ok(None)) => {
                    assert!(
                        self.buf.is_empty(),
                        "the stream ended inside a frame: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    return None;
                }
                Ok(Ok(Some(b))) => self.buf.extend_from_slice(&b),
            }
        }
    }

    /// The next frame that is not a keep-alive comment; panics at the end
    /// of the stream or when none comes within `limit`.
    async fn event(&mut self, limit: Duration) -> Frame {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let f = self.frame(left).await.expect("the stream goes on");
            if !f.is_ping() {
                return f;
            }
        }
    }

    /// The `retry` line, then the first event.
    async fn start(&mut self) -> Frame {
        let retry = self.frame(WAIT).await.expect("a first frame");
        assert_eq!(
            retry.raw, "retry: 1000",
            "the stream starts with its retry delay"
        );
        self.event(WAIT).await
    }

    /// Reads until the stream ends, within `limit`; returns what came first.
    async fn end(&mut self, limit: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the stream did not end within {limit:?} (read {seen:?})"
            );
            match self.frame(left).await {
                Some(f) => seen.push(f),
                None => return seen,
            }
        }
    }

    /// Deltas, skipping pings, until one satisfies `done`; returns them all.
    async fn deltas_until(&mut self, what: &str, done: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no delta with {what} (got {got:?})");
            let f = self.event(left).await;
            assert!(f.is("delta"), "only deltas after the snapshot: {f:?}");
            let stop = done(&f);
            got.push(f);
            if stop {
                return got;
            }
        }
    }
}

/// Waits until `GET /api/extensions` (read with `auth` headers) shows a
/// card passing `ok`.
async fn wait_card(s: &Stack, auth: &[(&str, &str)], number: &str, ok: impl Fn(&Value) -> bool) {
    let url = format!("{}/api/extensions", s.board().url());
    wait_until(WAIT, &format!("card {number} on the API"), || {
        let mut rq = http().get(&url);
        for (k, v) in auth {
            rq = rq.header(*k, *v);
        }
        let ok = &ok;
        async move {
            let cards: Value = rq.send().await?.error_for_status()?.json().await?;
            Ok(cards
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["number"] == number && ok(c)))
        }
    })
    .await
    .expect("card in time");
}

// -------------------------------------------------------------------- login

#[tokio::test]
async fn login_answers_wrong_and_unknown_alike_and_sets_a_strict_cookie() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let url = s.board().url();
    let (name, password) = OPERATOR;

    let wrong = login_raw(&url, name, "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        set_cookies(&wrong).is_empty(),
        "no cookie on a failed login"
    );
    let wrong_body = wrong.text().await.expect("body");
    assert!(wrong_body.contains(WRONG), "{wrong_body}");

    let unknown = login_raw(&url, "nobody-here", "not the password at all").await;
    assert_eq!(unknown.status(), 401);
    assert!(set_cookies(&unknown).is_empty());
    assert_eq!(
        unknown.text().await.expect("body"),
        wrong_body,
        "an unknown user is answered exactly like a wrong password"
    );

    let ok = login_raw(&url, name, password).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(header(&ok, "location").as_deref(), Some("/"));
    let cookies = set_cookies(&ok);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let value = cookies[0]
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("sb_session="))
        .expect("sb_session=...");
    assert_eq!(value.len(), 43, "32 random bytes, Base64url: {value}");
    let attrs = cookie_attributes(&cookies[0]);
    for a in ["httponly", "samesite=Strict", "path=/", "max-age=43200"] {
        assert!(attrs.iter().any(|x| x == a), "{a} in {attrs:?}");
    }
    assert!(
        !attrs.iter().any(|x| x == "secure"),
        "no Secure with --cookie-secure false: {attrs:?}"
    );
    // The name is matched case-blind, with spaces around ignored.
    let r = login_raw(&url, " OLIVIA ", password).await;
    assert_eq!(r.status(), 303);

    let cookie = format!("sb_session={value}");
    let me: Value = get(&format!("{url}/api/me"), Some(&cookie))
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["name"], name);
    assert_eq!(me["role"], "operator");

    // A board in production marks the cookie Secure.
    let secure = Board::start(&s.db.url, &["--cookie-secure", "true"])
        .await
        .expect("second board");
    let r = login_raw(&secure.url(), name, password).await;
    assert_eq!(r.status(), 303);
    let cookies = set_cookies(&r);
    let attrs = cookie_attributes(&cookies[0]);
    assert!(attrs.iter().any(|x| x == "secure"), "{attrs:?}");
    assert!(attrs.iter().any(|x| x == "httponly"), "{attrs:?}");
    Ok(())
}

#[tokio::test]
async fn the_board_page_needs_a_session_and_shows_the_role() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let url = s.board().url();
    let r = get(&format!("{url}/"), None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location").as_deref(), Some("/login"));
    let r = get(&format!("{url}/"), Some("sb_session=forged-value")).await;
    assert_eq!(r.status(), 303, "a forged cookie opens nothing");
    let r = get(
        &format!("{url}/"),
        Some("sb_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(r.status(), 303, "nor does a well-shaped unknown one");

    for ((name, password), role) in [(OPERATOR, "operator"), (VIEWER, "viewer")] {
        let cookie = login(&url, name, password).await;
        let r = get(&format!("{url}/"), Some(&cookie)).await;
        assert_eq!(r.status(), 200);
        assert!(header(&r, "content-type")
            .unwrap_or_default()
            .starts_with("text/html"));
        let html = r.text().await.expect("page");
        assert!(html.contains(&format!("data-role=\"{role}\"")), "{role}");
        assert!(html.contains(&format!("data-user=\"{name}\"")), "{name}");
        // Logged in, the login page sends to the board.
        let r = get(&format!("{url}/login"), Some(&cookie)).await;
        assert_eq!(r.status(), 303);
        assert_eq!(header(&r, "location").as_deref(), Some("/"));
    }
    Ok(())
}

#[tokio::test]
async fn a_disabled_user_loses_their_session_and_stream_and_cannot_log_in() -> anyhow::Result<()> {
    let s = stack(&["--session-check", "200ms"]).await?;
    let url = s.board().url();
    let (name, password) = VIEWER;
    let cookie = login(&url, name, password).await;
    let other = login(&url, OPERATOR.0, OPERATOR.1).await;
    assert_eq!(me(&url, &cookie).await, 200);
    let mut events = Sse::open(&url, &cookie, None).await;
    assert!(events.start().await.is("snapshot"));

    testkit::worker_ok(&s.db.url, &["user", "disable", name])
        .await
        .expect("disable");
    assert_eq!(me(&url, &cookie).await, 401, "the session ended at once");
    let r = get(&format!("{url}/"), Some(&cookie)).await;
    assert_eq!(r.status(), 303);
    events.end(Duration::from_secs(5)).await;
    let r = login_raw(&url, name, password).await;
    assert_eq!(r.status(), 401, "a disabled user cannot log in");
    assert!(set_cookies(&r).is_empty());
    assert!(r.text().await.expect("body").contains(WRONG));
    assert_eq!(me(&url, &other).await, 200, "other users stay logged in");
    Ok(())
}

#[tokio::test]
async fn a_new_password_ends_the_old_sessions() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let url = s.board().url();
    let (name, password) = OPERATOR;
    let first = login(&url, name, password).await;
    let second = login(&url, name, password).await;
    let viewer = login(&url, VIEWER.0, VIEWER.1).await;
    assert_eq!(me(&url, &first).await, 200);
    let new_password = "a brand new operator password";
    testkit::worker_ok_stdin(
        &s.db.url,
        &["user", "add", name, "--role", "operator"],
        new_password,
    )
    .await
    .expect("user add");
    assert_eq!(me(&url, &first).await, 401);
    assert_eq!(me(&url, &second).await, 401);
    assert_eq!(me(&url, &viewer).await, 200, "only that user's sessions");
    assert_eq!(login_raw(&url, name, password).await.status(), 401);
    let cookie = login(&url, name, new_password).await;
    assert_eq!(me(&url, &cookie).await, 200);
    Ok(())
}

// --------------------------------------------------------------- rate limit

#[tokio::test]
async fn failed_logins_block_the_user_on_every_board_even_with_the_right_password(
) -> anyhow::Result<()> {
    let flags = ["--login-failures-per-user", "3"];
    let s = stack(&flags).await?;
    let url = s.board().url();
    let (name, password) = OPERATOR;
    for i in 0..3 {
        let r = login_raw(&url, name, &format!("wrong password number {i}")).await;
        assert_eq!(r.status(), 401, "failure {i} is counted, not yet refused");
    }
    let r = login_raw(&url, name, password).await;
    assert_rate_limited(&r, 900, "the 4th attempt, with the right password");
    let body = r.text().await.expect("body");
    assert!(body.contains("Too many failed logins"), "{body}");
    // The name is counted case-blind, from any address.
    let r = login_from(&url, Ipv4Addr::new(127, 0, 0, 2), "Olivia", password, &[]).await;
    assert_rate_limited(&r, 900, "another address, another case");
    // Another user from the same address is not blocked by this limit.
    let r = login_raw(&url, VIEWER.0, VIEWER.1).await;
    assert_eq!(r.status(), 303, "another user logs in");

    // Every board instance reads the same counts.
    let second = Board::start(&s.db.url, &flags).await.expect("second board");
    let r = login_raw(&second.url(), name, password).await;
    assert_rate_limited(&r, 900, "on the second board");
    assert_eq!(
        login_raw(&second.url(), VIEWER.0, VIEWER.1).await.status(),
        303
    );
    assert_eq!(
        s.db.count_where(
            Counter::Sessions,
            "user_id = (SELECT id FROM board_users WHERE name = 'olivia')"
        )
        .await?,
        0,
        "no session was opened for the blocked user"
    );
    Ok(())
}

#[tokio::test]
async fn failed_logins_from_one_address_block_other_names_from_it() -> anyhow::Result<()> {
    let s = stack(&[
        "--login-failures-per-address",
        "3",
        "--login-failures-per-user",
        "50",
    ])
    .await?;
    let url = s.board().url();
    let home = Ipv4Addr::LOCALHOST;
    for (i, user) in ["mallory", "trudy", OPERATOR.0].into_iter().enumerate() {
        // A forged X-Forwarded-For does not move the count elsewhere (no
        // proxy is trusted).
        let xff = format!("198.51.100.{i}");
        let r = login_from(
            &url,
            home,
            user,
            "guessing passwords here",
            &[("X-Forwarded-For", &xff)],
        )
        .await;
        assert_eq!(r.status(), 401, "{user}");
    }
    let r = login_from(&url, home, VIEWER.0, VIEWER.1, &[]).await;
    assert_rate_limited(&r, 900, "another name from the same address");
    let r = login_from(
        &url,
        home,
        VIEWER.0,
        VIEWER.1,
        &[("X-Forwarded-For", "203.0.113.9")],
    )
    .await;
    assert_rate_limited(&r, 900, "with a forged X-Forwarded-For");
    // Another address is not blocked.
    let r = login_from(&url, Ipv4Addr::new(127, 0, 0, 3), VIEWER.0, VIEWER.1, &[]).await;
    assert_eq!(r.status(), 303);
    Ok(())
}

#[tokio::test]
async fn concurrent_guesses_get_no_more_password_checks_than_the_limit() -> anyhow::Result<()> {
    let s = stack(&["--login-failures-per-user", "3"]).await?;
    let url = s.board().url();
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                login_raw(&url, OPERATOR.0, &format!("concurrent guess {i:02}"))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.expect("guess"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let failures =
        s.db.count_where(Counter::LoginFailures, "username = 'olivia'")
            .await?;
    assert!(
        checked <= 3 && failures <= 3,
        "a burst of 12 guesses got {checked} password checks ({failures} failures recorded) \
         past a limit of 3: {statuses:?}"
    );
    Ok(())
}

// --------------------------------------------------------------------- CSRF

#[tokio::test]
async fn state_changing_requests_need_the_boards_own_origin() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let url = s.board().url();
    let own = url.as_str();
    let (name, password) = OPERATOR;
    let form = [("username", name), ("password", password)];

    // Login: a foreign origin, or none, is refused even with the right
    // password; no session is opened.
    let foreign = [
        vec![("Origin", EVIL)],
        vec![("Referer", "https://evil.example/page")],
        vec![("Origin", "null")],
        vec![("Origin", "http://127.0.0.1:1")],
        vec![],
        vec![("Origin", own), ("Sec-Fetch-Site", "cross-site")],
    ];
    for headers in &foreign {
        let mut rq = http().post(format!("{url}/login")).form(&form);
        for (k, v) in headers {
            rq = rq.header(*k, *v);
        }
        let r = rq.send().await.expect("login");
        assert_eq!(r.status(), 403, "login with {headers:?}");
        assert!(set_cookies(&r).is_empty(), "{headers:?}");
    }
    assert_eq!(s.db.counts().await?.sessions, 0);
    let r = http()
        .post(format!("{url}/login"))
        .header("Referer", format!("{url}/login"))
        .form(&form)
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "the board's own Referer passes");
    let r = login_raw(own, name, password).await;
    assert_eq!(r.status(), 303, "the board's own Origin passes");

    let operator = login(own, name, password).await;
    let viewer = login(own, VIEWER.0, VIEWER.1).await;
    let hangup = "/api/calls/pbx/x/hangup";
    for origin in [Some(EVIL), None] {
        let r = post(&url, hangup, origin, Some(&operator)).await;
        assert_eq!(r.status(), 403, "hangup from {origin:?}");
        let r = post(&url, "/logout", origin, Some(&operator)).await;
        assert_eq!(r.status(), 403, "logout from {origin:?}");
        assert_eq!(me(&url, &operator).await, 200, "still logged in");
    }
    // Same origin: past the check, then the role decides.
    let r = post(&url, hangup, Some(own), Some(&operator)).await;
    assert_eq!(
        r.status(),
        404,
        "an operator's hang-up of a call not on the board"
    );
    let body: Value = r.json().await.expect("json");
    assert!(body["error"].is_string());
    let r = post(&url, hangup, Some(own), Some(&viewer)).await;
    assert_eq!(r.status(), 403, "a viewer may not hang up");
    let r = post(&url, hangup, Some(own), None).await;
    assert_eq!(r.status(), 401, "nobody may hang up");
    let r = post(&url, "/logout", Some(own), Some(&operator)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location").as_deref(), Some("/login"));
    assert_eq!(me(&url, &operator).await, 401);
    Ok(())
}

// ---------------------------------------------------------- session endings

#[tokio::test]
async fn an_expired_session_is_refused_and_ends_its_stream() -> anyhow::Result<()> {
    let s = stack(&["--session-ttl", "2s"]).await?;
    let url = s.board().url();
    let logged_in = Instant::now();
    let r = login_raw(&url, VIEWER.0, VIEWER.1).await;
    assert_eq!(r.status(), 303);
    let set = set_cookies(&r).pop().expect("cookie");
    assert!(
        cookie_attributes(&set).iter().any(|a| a == "max-age=2"),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_string();
    assert_eq!(me(&url, &cookie).await, 200);
    let mut events = Sse::open(&url, &cookie, None).await;
    assert!(events.start().await.is("snapshot"));

    wait_until(Duration::from_secs(10), "the session expires", || async {
        Ok(me(&url, &cookie).await == 401)
    })
    .await
    .expect("expiry");
    assert!(
        logged_in.elapsed() >= Duration::from_millis(1500),
        "the session lasted its 2 s"
    );
    events.end(Duration::from_secs(5)).await;
    assert!(
        logged_in.elapsed() >= Duration::from_millis(1500),
        "the stream lasted as long as the session"
    );
    let r = get(&format!("{url}/"), Some(&cookie)).await;
    assert_eq!(r.status(), 303);
    let r = get(&format!("{url}/events"), Some(&cookie)).await;
    assert_eq!(r.status(), 401);
    Ok(())
}

#[tokio::test]
async fn logout_ends_the_session_and_its_stream_only() -> anyhow::Result<()> {
    let s = stack(&["--session-check", "200ms"]).await?;
    let url = s.board().url();
    let (name, password) = OPERATOR;
    let cookie = login(&url, name, password).await;
    let elsewhere = login(&url, name, password).await;
    let mut events = Sse::open(&url, &cookie, None).await;
    assert!(events.start().await.is("snapshot"));
    let mut other_events = Sse::open(&url, &elsewhere, None).await;
    assert!(other_events.start().await.is("snapshot"));

    let r = post(&url, "/logout", Some(&url), Some(&cookie)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location").as_deref(), Some("/login"));
    let cleared = set_cookies(&r).pop().expect("a clearing cookie");
    assert!(cleared.starts_with("sb_session=;"), "{cleared}");
    let attrs = cookie_attributes(&cleared);
    assert!(attrs.iter().any(|a| a == "max-age=0"), "{attrs:?}");
    assert!(attrs.iter().any(|a| a == "path=/"), "{attrs:?}");

    assert_eq!(me(&url, &cookie).await, 401);
    let r = get(&format!("{url}/events"), Some(&cookie)).await;
    assert_eq!(r.status(), 401);
    let r = get(&format!("{url}/"), Some(&cookie)).await;
    assert_eq!(r.status(), 303);
    events.end(Duration::from_secs(5)).await;

    // The same user's other session goes on, stream included.
    assert_eq!(me(&url, &elsewhere).await, 200);
    s.send("pbx", &call("c-logout", "+15550009999", "2002")[0].body)
        .await?;
    other_events
        .deltas_until("2002 ringing", |f| {
            f.card("2002").is_some_and(|c| c["status"] == "ringing")
        })
        .await;
    // Logging out without a session just clears the cookie.
    let r = post(&url, "/logout", Some(&url), None).await;
    assert_eq!(r.status(), 303);
    Ok(())
}

// ------------------------------------------------------------------- events

#[tokio::test]
async fn events_start_with_a_snapshot_then_deltas_and_resume_with_last_event_id(
) -> anyhow::Result<()> {
    let s = stack(&["--heartbeat", "300ms", "--replay-events", "3"]).await?;
    let url = s.board().url();
    let r = get(&format!("{url}/events"), None).await;
    assert_eq!(r.status(), 401);
    let r = get(
        &format!("{url}/events"),
        Some("sb_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(r.status(), 401);

    let cookie = login(&url, VIEWER.0, VIEWER.1).await;
    let mut a = Sse::open(&url, &cookie, None).await;
    let snap = a.start().await;
    assert!(snap.is("snapshot"), "{snap:?}");
    let (epoch, snap_seq) = snap.id_parts();
    let data = snap.data.as_ref().expect("data");
    assert!(data["extensions"].is_array() && data["calls"].is_array());
    assert!(data["now"].is_string());

    let caller = "+15550001111";
    let steps = call("c-events", caller, "2002");
    s.send("pbx", &steps[0].body).await?;
    let deltas = a
        .deltas_until("2002 ringing", |f| {
            f.card("2002")
                .is_some_and(|c| c["status"] == "ringing" && c["call"]["party"] == caller)
        })
        .await;
    let last = deltas.last().expect("a delta");
    let card = last.card("2002").expect("card");
    assert_eq!(card["source"], "pbx");
    assert_eq!(card["call"]["call_id"], "c-events");
    assert_eq!(card["call"]["state"], "ringing");
    let calls = last.data.as_ref().expect("data")["calls"]
        .as_array()
        .expect("calls")
        .clone();
    assert!(
        calls
            .iter()
            .any(|c| c["call_id"] == "c-events" && c["from_number"] == caller),
        "{calls:?}"
    );
    // Numbered one after the other, in this epoch.
    for (i, d) in deltas.iter().enumerate() {
        assert_eq!(d.id_parts(), (epoch.clone(), snap_seq + 1 + i as u64));
    }

    // Resuming from the snapshot: exactly the deltas missed, no snapshot
    // (nothing else happens, so the next thing is a keep-alive).
    let mut b = Sse::open(&url, &cookie, snap.id.as_deref()).await;
    assert_eq!(b.frame(WAIT).await.expect("retry").raw, "retry: 1000");
    let mut replayed = Vec::new();
    loop {
        let f = b.frame(WAIT).await.expect("frames");
        if f.is_ping() {
            break;
        }
        replayed.push(f);
    }
    assert_eq!(replayed, deltas, "the replay is the deltas missed");
    drop(b);
    // Resuming from the newest: nothing to replay.
    let mut c = Sse::open(&url, &cookie, last.id.as_deref()).await;
    assert_eq!(c.frame(WAIT).await.expect("retry").raw, "retry: 1000");
    assert!(c.frame(WAIT).await.expect("ping").is_ping());
    drop(c);
    // Garbage, another instance's (or a past run's) epoch, a future number:
    // a snapshot showing the current state.
    let other_epoch = format!("{:08x}", u32::from_str_radix(&epoch, 16).expect("hex") ^ 1);
    for id in [
        "junk".to_string(),
        String::new(),
        format!("{other_epoch}-{snap_seq}"),
        format!("{epoch}-{}", snap_seq + 1000),
        format!("{epoch}-x"),
    ] {
        let mut d = Sse::open(&url, &cookie, Some(&id)).await;
        let f = d.start().await;
        assert!(f.is("snapshot"), "Last-Event-ID {id:?}: {f:?}");
        let card = f.card("2002").expect("2002 in the snapshot");
        assert_eq!(card["status"], "ringing", "{id:?}");
    }

    // More updates than the replay buffer holds (3): resuming from the
    // snapshot is no longer possible, so a snapshot comes instead.
    let mut more = Vec::new();
    for (i, step) in steps[1..].iter().enumerate() {
        s.send("pbx", &step.body).await?;
        // Wait for each step's delta, so that they are not merged.
        let seq_before = more
            .last()
            .map_or(deltas.len() as u64 + snap_seq, |f: &Frame| f.id_parts().1);
        more.extend(
            a.deltas_until(&format!("step {i}"), |f| f.id_parts().1 > seq_before)
                .await,
        );
    }
    assert!(more.len() >= 4, "{more:?}");
    let mut g = Sse::open(&url, &cookie, snap.id.as_deref()).await;
    let f = g.start().await;
    assert!(f.is("snapshot"), "too old to resume: {f:?}");
    assert_ne!(
        f.card("2002").expect("2002")["status"],
        "ringing",
        "the snapshot is current"
    );
    Ok(())
}

/// A ring group: call `call_id` from `caller` ringing every extension of
/// `exts` at once (one webhook; its delta carries every card).
fn ring_group(call_id: &str, caller: &str, exts: &[String]) -> Step {
    let mut members = vec![Member::Trunk("inbound", caller, &exts[0], "ALERT")];
    members.extend(exts.iter().map(|e| Member::Ext(e, "RING")));
    Step {
        label: "ringing",
        body: yeastar_snapshot(30011, call_id, &members),
    }
}

/// A reader of `/events` whose socket holds little, and which reads only
/// when told to. The board's kernel sizes its send buffer from the
/// reader's segment size (up to 4 MB on loopback's 64 KB segments): a
/// small one keeps that buffer small, so the board's backlog is what
/// overflows.
struct SlowReader {
    tcp: tokio::net::TcpStream,
    /// Every byte read so far.
    got: Vec<u8>,
}

impl SlowReader {
    /// Opens the stream with `cookie` and reads up to the end of the
    /// snapshot; returns the reader and the snapshot's sequence number.
    async fn open(s: &Stack, cookie: &str) -> (SlowReader, u64) {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket2::SockRef::from(&sock)
            .set_tcp_mss(536)
            .expect("TCP_MAXSEG");
        let addr = format!("127.0.0.1:{}", s.board().port)
            .parse()
            .expect("address");
        let mut tcp = sock.connect(addr).await.expect("connect");
        tcp.write_all(
            format!(
                "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {cookie}\r\n\
                 Accept: text/event-stream\r\nConnection: close\r\n\r\n",
                s.board().port
            )
            .as_bytes(),
        )
        .await
        .expect("request");
        let mut r = SlowReader {
            tcp,
            got: Vec::new(),
        };
        let head_and_snapshot = |got: &[u8]| {
            let t = String::from_utf8_lossy(got);
            t.find("event: snapshot")
                .is_some_and(|i| t[i..].contains("\n\n"))
        };
        let deadline = Instant::now() + WAIT;
        while !head_and_snapshot(&r.got) {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = r.read(left).await.expect("the snapshot in time");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&r.got));
        }
        let text = String::from_utf8_lossy(&r.got).to_string();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let snap_seq: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .and_then(|id| id.split_once('-'))
            .and_then(|(_, seq)| seq.parse().ok())
            .expect("snapshot id");
        (r, snap_seq)
    }

    /// Reads once (at most `limit`); returns how many bytes (0: closed),
    /// `None` when nothing came in time.
    async fn read(&mut self, limit: Duration) -> Option<usize> {
        let mut buf = vec![0u8; 16 * 1024];
        let n = tokio::time::timeout(limit, self.tcp.read(&mut buf))
            .await
            .ok()?
            .expect("read");
        self.got.extend_from_slice(&buf[..n]);
        Some(n)
    }

    /// Reads what was buffered, until the stream ends (within [`WAIT`]);
    /// returns everything read.
    async fn read_to_end(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = self.read(left).await.unwrap_or_else(|| {
                panic!(
                    "the stream of a reader that fell behind did not end ({} bytes read)",
                    self.got.len()
                )
            });
            if n == 0 {
                return String::from_utf8_lossy(&self.got).into_owned();
            }
        }
    }
}

/// What a reader that fell behind was sent, and the board meanwhile.
struct FellBehind {
    s: Stack,
    /// A viewer's session, logged in after the updates.
    viewer: String,
    /// Everything the slow reader read, up to the end of its stream.
    text: String,
    /// Deltas the board produced after the reader's snapshot.
    produced: u64,
    /// Deltas the slow reader was sent.
    delivered: u64,
    /// The board's resident memory before and after (kB).
    rss: (u64, u64),
}

/// A board keeping 4 frames per stream; a reader reads its snapshot, then
/// nothing while 30 ring groups of 40 extensions each make a delta each
/// (each webhook is waited for); then it reads what was buffered, until
/// its stream ends.
async fn fall_behind() -> anyhow::Result<FellBehind> {
    const WEBHOOKS: usize = 30;
    const GROUP: usize = 40;
    let s = stack(&["--client-backlog", "4"]).await?;
    let url = s.board().url();
    let pid = s.board().proc.child.id().expect("board pid");
    let rss_before = rss_kb(pid);
    let cookie = login(&url, VIEWER.0, VIEWER.1).await;
    let (mut reader, snap_seq) = SlowReader::open(&s, &cookie).await;
    for k in 0..WEBHOOKS {
        let exts: Vec<String> = (0..GROUP)
            .map(|i| format!("{}", 3000 + k * GROUP + i))
            .collect();
        s.send(
            "pbx",
            &ring_group(&format!("slow-{k}"), "+15550002222", &exts).body,
        )
        .await?;
        let ringing = format!(
            "source = 'pbx' AND status = 'ringing' AND number IN ({})",
            exts.iter()
                .map(|e| format!("'{e}'"))
                .collect::<Vec<_>>()
                .join(",")
        );
        s.db.wait_count(WAIT, Counter::Extensions, &ringing, GROUP as i64)
            .await?;
    }
    // The board has them all (its own readers see the last one).
    let viewer = login(&url, VIEWER.0, VIEWER.1).await;
    let last_ext = format!("{}", 3000 + WEBHOOKS * GROUP - 1);
    wait_card(&s, &[("Cookie", viewer.as_str())], &last_ext, |c| {
        c["status"] == "ringing"
    })
    .await;
    let mut fresh = Sse::open(&url, &viewer, None).await;
    let (_, now_seq) = fresh.start().await.id_parts();
    drop(fresh);
    let produced = now_seq - snap_seq;
    assert!(
        produced >= WEBHOOKS as u64 / 2,
        "deltas produced: {produced}"
    );
    let text = reader.read_to_end().await;
    let delivered = text.matches("event: delta\n").count() as u64;
    let rss_after = rss_kb(pid);
    eprintln!(
        "slow reader: {delivered} of {produced} deltas delivered, {} bytes; board RSS {rss_before} kB -> {rss_after} kB",
        text.len()
    );
    Ok(FellBehind {
        s,
        viewer,
        text,
        produced,
        delivered,
        rss: (rss_before, rss_after),
    })
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_dropped_and_the_drop_counted() -> anyhow::Result<()> {
    let f = fall_behind().await?;
    assert!(
        f.text.ends_with("\r\n0\r\n\r\n"),
        "the server ended the response (last bytes {:?})",
        &f.text[f.text.len().saturating_sub(80)..]
    );
    assert!(
        f.delivered < f.produced,
        "delivered {} of {} deltas: the reader was not dropped",
        f.delivered,
        f.produced
    );
    assert!(
        metric(
            f.s.board(),
            "switchboard_board_streams_dropped_total",
            "why=\"slow\""
        )
        .await
            >= 1.0,
        "the drop is counted"
    );
    // The board goes on serving others.
    assert_eq!(me(&f.s.board().url(), &f.viewer).await, 200);
    Ok(())
}

#[tokio::test]
async fn the_boards_memory_stays_bounded_while_a_reader_falls_behind() -> anyhow::Result<()> {
    let f = fall_behind().await?;
    let (before, after) = f.rss;
    assert!(
        after < before + 100 * 1024,
        "board RSS grew from {before} kB to {after} kB"
    );
    Ok(())
}

// --------------------------------------------------------------- API tokens

/// A stack with the API token `crm`; returns it and its `Authorization`
/// value. The token is printed alone, on one line.
async fn token_stack() -> anyhow::Result<(Stack, String, String)> {
    let s = stack(&[]).await?;
    let out = testkit::worker_ok(&s.db.url, &["token", "add", "crm"]).await?;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {out:?}");
    let token = lines[0].to_string();
    assert!(token.starts_with("sbt_") && token.len() == 47, "{token}");
    let bearer = format!("Bearer {token}");
    Ok((s, token, bearer))
}

/// `GET path` on the board of `s` with `Authorization: authz` (if any).
async fn read(s: &Stack, path: &str, authz: Option<&str>) -> reqwest::Response {
    let mut rq = http().get(format!("{}{path}", s.board().url()));
    if let Some(a) = authz {
        rq = rq.header("Authorization", a);
    }
    rq.send().await.expect("GET")
}

/// The active calls, read with `authz`.
async fn active_calls(s: &Stack, authz: &str) -> Vec<Value> {
    let calls: Value = read(s, "/api/calls?active=true", Some(authz))
        .await
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("json");
    calls.as_array().expect("array").clone()
}

/// The token with its last character changed: well-shaped, and wrong.
fn flipped(token: &str) -> String {
    format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('A') { 'B' } else { 'A' }
    )
}

#[tokio::test]
async fn an_api_token_reads_the_cards_filtered_by_source() -> anyhow::Result<()> {
    let (s, _, bearer) = token_stack().await?;
    let r = read(&s, "/api/extensions", Some(&bearer)).await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.expect("json").is_array());

    let caller = "+15550003333";
    let steps = call("c-api", caller, "2002");
    s.send("pbx", &steps[0].body).await?;
    s.wait_extension("pbx", "2002", "ringing").await?;
    let auth = [("Authorization", bearer.as_str())];
    wait_card(&s, &auth, "2002", |c| {
        c["status"] == "ringing" && c["call"]["party"] == caller
    })
    .await;
    let cards: Value = read(&s, "/api/extensions?source=pbx", Some(&bearer))
        .await
        .json()
        .await
        .expect("json");
    let card = cards
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["number"] == "2002")
        .expect("2002");
    assert_eq!(card["source"], "pbx");
    assert_eq!(card["call"]["call_id"], "c-api");
    let cards: Value = read(&s, "/api/extensions?source=other", Some(&bearer))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(cards, serde_json::json!([]), "filtered by source");
    Ok(())
}

#[tokio::test]
async fn an_api_token_reads_a_call_as_active_until_it_ends() -> anyhow::Result<()> {
    let (s, _, bearer) = token_stack().await?;
    let caller = "+15550003333";
    let steps = call("c-api", caller, "2002");
    s.send("pbx", &steps[0].body).await?;
    s.wait_extension("pbx", "2002", "ringing").await?;
    let calls = active_calls(&s, &bearer).await;
    assert!(
        calls.iter().any(|c| c["call_id"] == "c-api"
            && c["status"] != "ended"
            && c["from_number"] == caller),
        "{calls:?}"
    );
    for step in &steps[1..4] {
        s.send("pbx", &step.body).await?;
    }
    wait_until(WAIT, "the call is no longer active", || async {
        Ok(!active_calls(&s, &bearer)
            .await
            .iter()
            .any(|c| c["call_id"] == "c-api"))
    })
    .await?;
    let all: Value = read(&s, "/api/calls", Some(&bearer))
        .await
        .json()
        .await
        .expect("json");
    assert!(
        all.as_array()
            .expect("array")
            .iter()
            .any(|c| c["call_id"] == "c-api" && c["status"] == "ended"),
        "the ended call is among the recent ones: {all}"
    );
    Ok(())
}

#[tokio::test]
async fn wrong_tokens_other_schemes_and_none_are_refused() -> anyhow::Result<()> {
    let (s, token, _) = token_stack().await?;
    for bad in [
        Some(format!("Bearer {}", flipped(&token))),
        Some(format!("Bearer sbt_{}", "A".repeat(43))),
        Some("Bearer garbage".to_string()),
        Some(format!("Basic {token}")),
        Some(token.clone()),
        Some("Bearer ".to_string()),
        None,
    ] {
        for path in ["/api/extensions", "/api/calls?active=true"] {
            let r = read(&s, path, bad.as_deref()).await;
            assert_eq!(r.status(), 401, "{path} with {bad:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_token_opens_only_the_json_api_and_decides_alone() -> anyhow::Result<()> {
    let (s, token, bearer) = token_stack().await?;
    let url = s.board().url();
    // A token opens only the JSON API, not the board or its stream.
    assert_eq!(read(&s, "/events", Some(&bearer)).await.status(), 401);
    assert_eq!(read(&s, "/api/me", Some(&bearer)).await.status(), 401);
    // A session opens the API too; a present Authorization header decides
    // alone.
    let cookie = login(&url, VIEWER.0, VIEWER.1).await;
    let r = get(&format!("{url}/api/extensions"), Some(&cookie)).await;
    assert_eq!(r.status(), 200);
    let r = http()
        .get(format!("{url}/api/extensions"))
        .header("Cookie", &cookie)
        .header("Authorization", format!("Bearer {}", flipped(&token)))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    Ok(())
}

#[tokio::test]
async fn a_tokens_use_is_stamped_and_revoking_it_closes_the_api() -> anyhow::Result<()> {
    let (s, token, bearer) = token_stack().await?;
    assert_eq!(
        read(&s, "/api/extensions", Some(&bearer)).await.status(),
        200
    );
    let list = testkit::worker_ok(&s.db.url, &["token", "list"]).await?;
    let row = list
        .lines()
        .find(|l| l.starts_with("crm "))
        .expect("listed");
    let cols: Vec<&str> = row.split_whitespace().collect();
    // NAME, CREATED (date time), LAST USED (date time), REVOKED ("-").
    assert_eq!(cols.len(), 6, "{row}");
    assert_ne!(cols[3], "-", "last use stamped: {row}");
    assert_eq!(cols[5], "-", "not revoked: {row}");
    assert!(!list.contains(&token[4..]), "the value is never listed");

    testkit::worker_ok(&s.db.url, &["token", "revoke", "crm"]).await?;
    for path in ["/api/extensions", "/api/calls?active=true"] {
        let r = read(&s, path, Some(&bearer)).await;
        assert_eq!(r.status(), 401, "{path} after revocation");
    }
    let list = testkit::worker_ok(&s.db.url, &["token", "list"]).await?;
    let row = list
        .lines()
        .find(|l| l.starts_with("crm "))
        .expect("listed");
    assert_eq!(row.split_whitespace().count(), 7, "revoked stamped: {row}");
    Ok(())
}

// ----------------------------------------------------------------- headers

#[tokio::test]
async fn every_answer_has_the_security_headers_and_login_errors_are_escaped() -> anyhow::Result<()>
{
    let s = stack(&[]).await?;
    let url = s.board().url();
    let cookie = login(&url, VIEWER.0, VIEWER.1).await;
    let mut answers = Vec::new();
    for (path, cookie, status) in [
        ("/", None, 303),
        ("/", Some(cookie.as_str()), 200),
        ("/login", None, 200),
        ("/events", None, 401),
        ("/api/me", None, 401),
        ("/api/extensions", None, 401),
        ("/assets/board.js", None, 200),
        ("/assets/board.css", None, 200),
        ("/assets/nothing.js", None, 404),
        ("/no-such-page", None, 404),
        ("/healthz", None, 200),
    ] {
        let r = get(&format!("{url}{path}"), cookie).await;
        assert_eq!(r.status(), status, "{path}");
        answers.push((format!("GET {path}"), r));
    }
    answers.push((
        "POST /login from elsewhere".into(),
        post(&url, "/login", Some(EVIL), None).await,
    ));
    answers.push((
        "POST /logout from elsewhere".into(),
        post(&url, "/logout", Some(EVIL), None).await,
    ));
    answers.push(("POST /login wrong".into(), login_raw(&url, "x", "y").await));
    for (what, r) in &answers {
        assert_eq!(
            header(r, "content-security-policy").as_deref(),
            Some(CSP),
            "{what}"
        );
        assert_eq!(
            header(r, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            header(r, "x-frame-options").as_deref(),
            Some("DENY"),
            "{what}"
        );
    }
    let js = get(&format!("{url}/assets/board.js"), None).await;
    assert!(header(&js, "content-type")
        .unwrap_or_default()
        .starts_with("text/javascript"));

    // What a login form gets back never echoes what was typed.
    for name in ["<script>alert(1)</script>", "\"><img src=x>", "o'livia&"] {
        let r = login_raw(&url, name, "<b>password</b>").await;
        assert_eq!(r.status(), 401, "{name}");
        let body = r.text().await.expect("body");
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(!body.contains(name), "the name is not echoed: {body}");
        assert!(!body.contains("<b>password"), "{body}");
        assert!(body.contains(WRONG));
    }
    Ok(())
}

/// When the board loses its change feed (its LISTEN connection is killed),
/// every stream hears `stale`, and once the feed is back a fresh snapshot
/// brings what changed meanwhile (its notification was never heard).
#[tokio::test]
async fn a_lost_feed_is_announced_and_healed_by_a_snapshot() -> anyhow::Result<()> {
    let s = stack(&["--heartbeat", "300ms"]).await?;
    let url = s.board().url();
    let cookie = login(&url, VIEWER.0, VIEWER.1).await;
    let mut a = Sse::open(&url, &cookie, None).await;
    assert!(a.start().await.is("snapshot"));
    let kill = "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                 WHERE query = 'LISTEN switchboard_changes' AND datname = current_database()";
    // Each loss doubles the feed's reconnect delay (200 ms, 400 ms, ...):
    // after five losses it stays away 3.2 s, long enough to apply a call
    // unheard.
    for round in 0..5 {
        wait_until(WAIT, "the board listening", || async {
            Ok(s.db.listening("switchboard_changes").await? >= 1)
        })
        .await
        .expect("listening");
        assert!(
            s.db.count(kill).await.expect("terminate") >= 1,
            "round {round}"
        );
        let stale = a.event(WAIT).await;
        assert!(stale.is("stale"), "round {round}: {stale:?}");
        assert!(stale.id.is_none(), "not replayable: {stale:?}");
        if round < 4 {
            let snap = a.event(WAIT).await;
            assert!(snap.is("snapshot"), "round {round}: {snap:?}");
        }
    }
    let steps = call("c-feed", "+15550002222", "2002");
    s.send("pbx", &steps[0].body).await?;
    s.wait_extension("pbx", "2002", "ringing").await?;
    assert_eq!(
        s.db.listening("switchboard_changes").await?,
        0,
        "still away"
    );
    let snap = a.event(WAIT).await;
    assert!(
        snap.is("snapshot"),
        "the feed came back with a snapshot: {snap:?}"
    );
    let card = snap.card("2002").expect("2002 in the snapshot");
    assert_eq!(card["status"], "ringing", "{card}");
    assert!(
        metric(s.board(), "switchboard_board_feed_failures_total", "").await >= 5.0,
        "the losses are counted"
    );
    Ok(())
}
