//! Helpers shared by the board's integration tests: the stack they run
//! (ingest, a worker and the board, with a Yeastar source and two users),
//! the demo call, and logins.

use std::time::Duration;

use testkit::{Board, Stack};
use traffic::scenario::{self, Step};

/// How long any condition is waited for.
pub const WAIT: Duration = Duration::from_secs(30);
/// The Yeastar source's signing secret.
pub const PBX_SECRET: &str = "pbx-secret-0123456789abcdef01234";
/// Users made by [`stack`]: an operator and a viewer.
pub const OPERATOR: (&str, &str) = ("olivia", "operator password 1");
pub const VIEWER: (&str, &str) = ("victor", "viewer password 12");

/// A stack with the Yeastar source `pbx`, the users [`OPERATOR`] and
/// [`VIEWER`], ingest, one worker and the board (with `board_args`).
pub async fn stack(board_args: &[&str]) -> anyhow::Result<Stack> {
    stack_with(board_args, |b| b).await
}

/// [`stack`], with more asked of it by `more` (another source, say).
pub async fn stack_with(
    board_args: &[&str],
    more: impl FnOnce(testkit::StackBuilder) -> testkit::StackBuilder,
) -> anyhow::Result<Stack> {
    let b = Stack::builder()
        .migrate()
        .yeastar("pbx", PBX_SECRET)
        .user(OPERATOR.0, "operator", OPERATOR.1)
        .user(VIEWER.0, "viewer", VIEWER.1)
        .ingest(&[])
        .worker(&[])
        .board(board_args)
        .wait(WAIT);
    more(b).start().await
}

/// The demo call's steps: `caller` calls extension `ext` (ringing,
/// answered, hold, bye, cdr).
pub fn call(call_id: &str, caller: &str, ext: &str) -> Vec<Step> {
    scenario::yeastar_inbound(call_id, caller, ext)
}

/// A client that never follows redirects (cookies are passed by hand).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Logs `user` in with `password` from origin `board_url`; returns the
/// answer (303 with a cookie on success).
pub async fn login_raw(board_url: &str, user: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{board_url}/login"))
        .header("Origin", board_url)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .expect("login request")
}

/// Logs in and returns the `Cookie` header value of the session.
pub async fn login(board_url: &str, user: &str, password: &str) -> String {
    let r = login_raw(board_url, user, password).await;
    assert_eq!(r.status(), 303, "login of {user}");
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    set.split(';').next().unwrap_or_default().to_string()
}

/// The value of the counter `name{label}` on the board's operators' port
/// (the sum over the series whose labels contain `label`).
pub async fn metric(board: &Board, name: &str, label: &str) -> f64 {
    let r = board
        .admin_client()
        .request("GET", "/metrics", &[], b"")
        .await
        .expect("/metrics");
    assert_eq!(r.status, 200);
    r.text()
        .lines()
        .filter(|l| {
            (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
                && l.contains(label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The resident memory of process `pid`, in kB. Panics when it cannot be
/// read: a bound checked against 0 would pass whatever the board used.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
