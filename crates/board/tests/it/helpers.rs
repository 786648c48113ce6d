//! Helpers shared by the board's integration tests: a whole stack (ingest,
//! a worker, the board) on a fresh database, users, signed deliveries, and
//! logins.

use std::time::Duration;

use testkit::{start_worker, wait_until, Board, Ingest, Proc, TestDb};
use traffic::scenario::{self, SignedRequest, Step};

/// How long any condition is waited for.
pub const WAIT: Duration = Duration::from_secs(30);
/// The Yeastar source's signing secret.
pub const PBX_SECRET: &str = "pbx-secret-0123456789abcdef01234";
/// Users made by [`stack`]: an operator and a viewer.
pub const OPERATOR: (&str, &str) = ("olivia", "operator password 1");
pub const VIEWER: (&str, &str) = ("victor", "viewer password 12");

/// A database with the Yeastar source `pbx`, the users [`OPERATOR`] and
/// [`VIEWER`], ingest, one worker and the board.
pub struct Stack {
    pub db: TestDb,
    pub ingest: Ingest,
    /// Kept so that the worker runs as long as the stack.
    pub _worker: Proc,
    pub board: Board,
}

/// Starts a [`Stack`]; `board_args` go to the board.
pub async fn stack(board_args: &[&str]) -> Stack {
    let db = TestDb::new().await.expect("db");
    testkit::worker_ok(&db.url, &["migrate"])
        .await
        .expect("migrate");
    testkit::worker_ok_stdin(
        &db.url,
        &["source", "add", "pbx", "--provider", "yeastar"],
        PBX_SECRET,
    )
    .await
    .expect("source pbx");
    for ((name, password), role) in [(OPERATOR, "operator"), (VIEWER, "viewer")] {
        testkit::worker_ok_stdin(&db.url, &["user", "add", name, "--role", role], password)
            .await
            .expect("user add");
    }
    let ingest = Ingest::start(&db.url, &[]).await.expect("ingest");
    let worker = start_worker(&db.url, &[]).expect("worker");
    let board = Board::start(&db.url, board_args).await.expect("board");
    Stack {
        db,
        ingest,
        _worker: worker,
        board,
    }
}

impl Stack {
    /// Posts `req` to ingest for source `pbx`; asserts it was accepted.
    pub async fn post(&self, req: &SignedRequest) {
        let mut c = self.ingest.client();
        let r = c
            .request("POST", "/webhooks/pbx", &req.headers, &req.body)
            .await
            .expect("post");
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// Signs and posts a Yeastar step.
    pub async fn send(&self, step: &Step) {
        self.post(&scenario::sign_yeastar(PBX_SECRET, &step.body))
            .await;
    }

    /// Waits until extension `number` of `pbx` has `status` in the database.
    pub async fn wait_status(&self, number: &str, status: &str) {
        let q = format!(
            "SELECT count(*) AS n FROM extensions WHERE source = 'pbx' AND number = '{number}' AND status = '{status}'"
        );
        wait_until(WAIT, &format!("extension {number} {status}"), || async {
            Ok(self.db.count(&q).await? == 1)
        })
        .await
        .expect("status in time");
    }
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
