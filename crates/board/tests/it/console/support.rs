//! Helpers of the console's tests: a stack whose worker gives an event up
//! after one failed attempt and which runs `worker deliver` (retrying for
//! 300 ms only); a dead event made by a real failure (a trigger that
//! refuses the call, like a constraint an operator then fixes); a
//! receiver that fails until switched on; given-up deliveries to it; the
//! API asked with a session, and the console's audit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;
use testkit::{wait_until, Counter, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{http, OPERATOR, PBX_SECRET, VIEWER, WAIT};

/// A supervisor of the console's stack.
pub const SUPERVISOR: (&str, &str) = ("sam", "supervisor password 1");

/// The stack of the console's tests (see the module's documentation).
pub async fn console_stack() -> anyhow::Result<Stack> {
    Stack::builder()
        .migrate()
        .yeastar("pbx", PBX_SECRET)
        .user(OPERATOR.0, "operator", OPERATOR.1)
        .user(VIEWER.0, "viewer", VIEWER.1)
        .user(SUPERVISOR.0, "supervisor", SUPERVISOR.1)
        .ingest(&[])
        .worker(&["--max-attempts", "1"])
        .worker_command(&[
            "deliver",
            "--retry-for",
            "300ms",
            "--backoff-base",
            "50ms",
            "--backoff-cap",
            "100ms",
            "--poll-interval",
            "50ms",
        ])
        .board(&[])
        .wait(WAIT)
        .start()
        .await
}

/// A Yeastar "call ringing at `ext`" webhook of call `call`.
pub fn ringing(call: &str, ext: &str) -> Vec<u8> {
    serde_json::json!({"type": 30011, "msg": serde_json::json!({"call_id": call, "members": [
        {"extension": {"number": ext, "channel_id": format!("c-{call}"), "member_status": "RING"}}
    ]}).to_string()})
    .to_string()
    .into_bytes()
}

/// Sends call `call` ringing at 2001 through ingest while the database
/// refuses calls whose id starts with `dead-` (a trigger raising a check
/// violation: the event's fault, so it fails alone and, after its one
/// attempt, dies); the refusal is then lifted. Returns the event's id.
pub async fn dead_event(s: &Stack, call: &str) -> anyhow::Result<i64> {
    s.db.exec(
        "CREATE OR REPLACE FUNCTION console_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.call_id LIKE 'dead-%' THEN
             RAISE EXCEPTION 'calls are refused for maintenance' USING ERRCODE = 'check_violation';
           END IF;
           RETURN NEW;
         END $$",
    )
    .await?;
    s.db.exec(
        "CREATE TRIGGER console_test_refuse BEFORE INSERT OR UPDATE ON calls
         FOR EACH ROW EXECUTE FUNCTION console_test_refuse()",
    )
    .await?;
    let id = s.send("pbx", &ringing(call, "2001")).await?;
    let filter = format!("id = {id}");
    wait_until(WAIT, &format!("event {id} dead"), || async {
        Ok(s.db.count_where(Counter::Dead, &filter).await? == 1)
    })
    .await?;
    s.db.exec("DROP TRIGGER console_test_refuse ON calls")
        .await?;
    Ok(id)
}

/// A receiver on loopback answering 500 until [`Receiver::up`], then 200.
pub struct Receiver {
    pub url: String,
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(false));
        let flag = up.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    // One request per connection: read the head and the
                    // body (Content-Length), answer, close.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let answer = if flag.load(Ordering::SeqCst) {
                        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nreceived"
                    } else {
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 11\r\nConnection: close\r\n\r\ncrm is down"
                    };
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            up,
            task,
        }
    }

    /// From now on, answers 200.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Adds endpoint `crm` for the call events to `rx`, sends a call ringing
/// through ingest, and waits until its deliveries are given up (`rx` is
/// down). Returns how many there are.
pub async fn given_up(s: &Stack, rx: &Receiver, call: &str) -> anyhow::Result<i64> {
    let n =
        s.db.count("SELECT count(*) AS n FROM webhook_endpoints WHERE name = 'crm'")
            .await?;
    if n == 0 {
        testkit::worker_ok(
            &s.db.url,
            &[
                "endpoint",
                "add",
                "crm",
                "--url",
                &rx.url,
                "--allow-private",
                "--types",
                "call.*",
            ],
        )
        .await?;
    }
    s.deliver("pbx", &ringing(call, "2002")).await?;
    let failed = "SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'failed'";
    wait_until(WAIT, "the deliveries to crm given up", || async {
        let pending =
            s.db.count("SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'pending'")
                .await?;
        Ok(pending == 0 && s.db.count(failed).await? > 0)
    })
    .await?;
    s.db.count(failed).await
}

/// `method path` with `cookie` (and, for a POST, `Origin: origin` and the
/// JSON `body`): status and JSON answer.
pub async fn ask(
    s: &Stack,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", s.board().url());
    let mut r = if method == "POST" {
        http().post(url)
    } else {
        http().get(url)
    };
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get(s: &Stack, path: &str, cookie: &str) -> (u16, Value) {
    ask(s, "GET", path, Some(cookie), None, None).await
}

pub async fn post(s: &Stack, path: &str, cookie: &str, body: Option<Value>) -> (u16, Value) {
    let origin = s.board().url();
    ask(s, "POST", path, Some(cookie), Some(&origin), body).await
}

/// One audit row: user, action, target, count.
pub type Row = (String, String, String, i64);

pub fn row(user: &str, action: &str, target: &str, count: i64) -> Row {
    (
        user.to_string(),
        action.to_string(),
        target.to_string(),
        count,
    )
}

pub async fn audit(s: &Stack) -> Vec<Row> {
    let out = testkit::worker_ok(&s.db.url, &["audit", "--console", "--json"])
        .await
        .expect("worker audit --console");
    let rows: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    rows.iter()
        .map(|r| {
            (
                r["user_name"].as_str().unwrap_or_default().to_string(),
                r["action"].as_str().unwrap_or_default().to_string(),
                r["target"].as_str().unwrap_or_default().to_string(),
                r["count"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}
