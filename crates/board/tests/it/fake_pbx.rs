//! FAKES of the phone systems' APIs, for the hang-up tests: a fake Yeastar
//! P-Series OpenAPI and a fake Dialpad API v2, each a small HTTP/1.1
//! server on loopback (127.0.0.1, a free port) inside the test process.
//! They are NOT the real services: they implement what providers.md and
//! the issue say of them (paths, the `User-Agent: OpenAPI` header, tokens
//! and their lifetimes, `errcode`/`errmsg` in 200 answers, the bearer API
//! key) and invent what is not documented (the error codes and messages
//! of a wrong login, an unknown channel or call; Dialpad's error body).
//!
//! Like the real systems, on a successful hang-up they report the end of
//! the call through the webhooks: the fake PBX posts the signed 30011 BYE
//! snapshot and the 30012 CDR of the call to ingest; the fake Dialpad posts
//! the signed `hangup` event of the leg.
//!
//! The HTTP server is deliberately minimal (one request per connection,
//! `Connection: close`, `Content-Length` bodies): enough for reqwest.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use traffic::scenario::Step;

use crate::fake_control::{self, Control};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's pairs (not decoded: the values the tests use need none).
    pub query: HashMap<String, String>,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An answer: status and JSON body.
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

fn ok(body: Value) -> Resp {
    Resp { status: 200, body }
}

type Handler = Arc<dyn Fn(Req) -> Pin<Box<dyn Future<Output = Resp> + Send>> + Send + Sync>;

/// A listening fake: its address, and the accept loop (stopped when dropped).
pub struct Server {
    pub url: String,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `handler` on a free loopback port.
pub async fn serve(handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let h = handler.clone();
            tokio::spawn(async move {
                let _ = handle(stream, h).await;
            });
        }
    });
    Server {
        url: format!("http://127.0.0.1:{port}"),
        connections,
        task,
    }
}

/// A server that accepts connections, reads the request and closes
/// without answering (the request may have reached it: no retry allowed).
pub async fn closes_without_answering() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                drop(stream);
            });
        }
    });
    Server {
        url: format!("http://127.0.0.1:{port}"),
        connections,
        task,
    }
}

async fn handle(mut stream: TcpStream, handler: Handler) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q),
        None => (target.clone(), ""),
    };
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let resp = handler(Req {
        method,
        path,
        query,
        headers,
        body,
    })
    .await;
    let body = resp.body.to_string();
    let out = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        resp.status,
        body.len()
    );
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

/// Posts `reqs` (signed webhooks) to `path` of ingest at `authority`, in
/// order, as the phone system would.
async fn deliver(authority: String, source: String, reqs: Vec<testkit::SignedRequest>) {
    let mut c = traffic::Client::new(authority, Duration::from_secs(10));
    for r in reqs {
        match testkit::post_webhook(&mut c, &source, &r).await {
            Ok(a) if a.status == 200 => {}
            Ok(a) => eprintln!("fake: ingest answered {} to a webhook", a.status),
            Err(e) => eprintln!("fake: cannot post a webhook to ingest: {e:#}"),
        }
    }
}

// --------------------------------------------------------------- Yeastar

/// The fake PBX's client id and secret.
pub const CLIENT_ID: &str = "fakeclientid0123456789abcdefABCD";
pub const CLIENT_SECRET: &str = "fakeclientsecret0123456789abcdef";
/// What the fake PBX answers a wrong login (its own choice).
pub const BAD_LOGIN: (i64, &str) = (10003, "INVALID CLIENT ID OR CLIENT SECRET");
/// What it answers a missing, unknown or expired access token.
pub const BAD_TOKEN: (i64, &str) = (10004, "ACCESS TOKEN EXPIRED OR INVALID");

#[derive(Default)]
struct PbxState {
    access_life: Duration,
    refresh_life: Duration,
    /// Live access tokens and when each expires.
    access: HashMap<String, Instant>,
    refresh: HashMap<String, Instant>,
    /// Channel → the webhook bodies to post when it is hung up (BYE, CDR).
    calls: HashMap<String, Vec<Vec<u8>>>,
    /// Answer hang-ups with this error (after the token check).
    error: Option<(i64, String)>,
    /// Sleep this long before answering a hang-up.
    delay: Duration,
    /// Channels hung up, in order.
    hung_up: Vec<String>,
    serial: u64,
    /// Call control (transfer, park, ...): `fake_control`.
    control: Control,
}

/// A fake Yeastar P-Series OpenAPI.
pub struct Pbx {
    pub server: Server,
    state: Arc<Mutex<PbxState>>,
    /// `get_token` calls (successful or not).
    pub logins: Arc<AtomicUsize>,
    /// `refresh_token` calls.
    pub refreshes: Arc<AtomicUsize>,
    /// `call/hangup` calls (whatever the answer).
    pub hangup_calls: Arc<AtomicUsize>,
    /// Call control requests (transfer, park, ...) as they arrive, before
    /// any check or delay: a test waits on it to know one is in flight.
    pub control_arrived: Arc<AtomicUsize>,
    /// Requests without `User-Agent: OpenAPI` (refused with HTTP 403).
    pub bad_user_agent: Arc<AtomicUsize>,
}

impl Pbx {
    /// A fake PBX whose tokens live `access_life` and `refresh_life`, and
    /// which reports hang-ups to ingest at `ingest` (authority) for source
    /// `source`, signing with `secret`.
    pub async fn start(
        access_life: Duration,
        refresh_life: Duration,
        ingest: String,
        source: &str,
        secret: &str,
    ) -> Pbx {
        let state = Arc::new(Mutex::new(PbxState {
            access_life,
            refresh_life,
            ..PbxState::default()
        }));
        let logins = Arc::new(AtomicUsize::new(0));
        let refreshes = Arc::new(AtomicUsize::new(0));
        let hangup_calls = Arc::new(AtomicUsize::new(0));
        let bad_user_agent = Arc::new(AtomicUsize::new(0));
        let control_arrived = Arc::new(AtomicUsize::new(0));
        let (st, li, re, hc, bu, ca) = (
            state.clone(),
            logins.clone(),
            refreshes.clone(),
            hangup_calls.clone(),
            bad_user_agent.clone(),
            control_arrived.clone(),
        );
        let source = source.to_string();
        let secret = secret.to_string();
        let handler: Handler = Arc::new(move |req: Req| {
            let (st, li, re, hc, bu, ca) = (
                st.clone(),
                li.clone(),
                re.clone(),
                hc.clone(),
                bu.clone(),
                ca.clone(),
            );
            let (ingest, source, secret) = (ingest.clone(), source.clone(), secret.clone());
            Box::pin(async move {
                if req.header("user-agent") != Some("OpenAPI") {
                    bu.fetch_add(1, Ordering::SeqCst);
                    return Resp {
                        status: 403,
                        body: json!({"error": "User-Agent required"}),
                    };
                }
                match (req.method.as_str(), req.path.as_str()) {
                    ("POST", "/openapi/v1.0/get_token") => {
                        li.fetch_add(1, Ordering::SeqCst);
                        let b = req.json();
                        if b["username"] != CLIENT_ID || b["password"] != CLIENT_SECRET {
                            return ok(json!({"errcode": BAD_LOGIN.0, "errmsg": BAD_LOGIN.1}));
                        }
                        ok(issue(&mut st.lock().unwrap()))
                    }
                    ("POST", "/openapi/v1.0/refresh_token") => {
                        re.fetch_add(1, Ordering::SeqCst);
                        let b = req.json();
                        let mut s = st.lock().unwrap();
                        let r = b["refresh_token"].as_str().unwrap_or_default().to_string();
                        match s.refresh.remove(&r) {
                            Some(until) if until > Instant::now() => ok(issue(&mut s)),
                            _ => ok(
                                json!({"errcode": BAD_TOKEN.0, "errmsg": "REFRESH TOKEN EXPIRED OR INVALID"}),
                            ),
                        }
                    }
                    ("POST", "/openapi/v1.0/call/hangup") => {
                        hc.fetch_add(1, Ordering::SeqCst);
                        let token = req.query.get("access_token").cloned().unwrap_or_default();
                        let channel = req.json()["channel_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        let (valid, error, delay) = {
                            let s = st.lock().unwrap();
                            let valid = s.access.get(&token).is_some_and(|t| *t > Instant::now());
                            (valid, s.error.clone(), s.delay)
                        };
                        if !valid {
                            return ok(json!({"errcode": BAD_TOKEN.0, "errmsg": BAD_TOKEN.1}));
                        }
                        tokio::time::sleep(delay).await;
                        if let Some((code, msg)) = error {
                            return ok(json!({"errcode": code, "errmsg": msg}));
                        }
                        let bodies = {
                            let mut s = st.lock().unwrap();
                            let Some(bodies) = s.calls.remove(&channel) else {
                                return ok(
                                    json!({"errcode": 70001, "errmsg": "CHANNEL NOT FOUND"}),
                                );
                            };
                            s.hung_up.push(channel);
                            bodies
                        };
                        let reqs = bodies
                            .iter()
                            .map(|b| testkit::sign_yeastar(&secret, b))
                            .collect();
                        tokio::spawn(deliver(ingest, source, reqs));
                        ok(json!({"errcode": 0, "errmsg": "SUCCESS"}))
                    }
                    (_, path) if path.starts_with("/openapi/v1.0/") => {
                        ca.fetch_add(1, Ordering::SeqCst);
                        let token = req.query.get("access_token").cloned().unwrap_or_default();
                        let (valid, error, delay) = {
                            let s = st.lock().unwrap();
                            let valid = s.access.get(&token).is_some_and(|t| *t > Instant::now());
                            (valid, s.error.clone(), s.delay)
                        };
                        if !valid {
                            return ok(json!({"errcode": BAD_TOKEN.0, "errmsg": BAD_TOKEN.1}));
                        }
                        tokio::time::sleep(delay).await;
                        if let Some((code, msg)) = error {
                            st.lock()
                                .unwrap()
                                .control
                                .seen
                                .push((path.to_string(), Value::Null));
                            return ok(json!({"errcode": code, "errmsg": msg}));
                        }
                        let (answer, bodies) = st.lock().unwrap().control.yeastar(&req);
                        if !bodies.is_empty() {
                            let reqs = bodies
                                .iter()
                                .map(|b| testkit::sign_yeastar(&secret, b))
                                .collect();
                            tokio::spawn(deliver(ingest, source, reqs));
                        }
                        ok(answer)
                    }
                    _ => Resp {
                        status: 404,
                        body: json!({"errcode": 404, "errmsg": "NOT FOUND"}),
                    },
                }
            })
        });
        Pbx {
            server: serve(handler).await,
            state,
            logins,
            refreshes,
            hangup_calls,
            bad_user_agent,
            control_arrived,
        }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// Makes the PBX know the call of `steps` (`yeastar_inbound`): hanging
    /// up the extension's channel `PJSIP/{ext}-{call_id}` posts its `bye`
    /// and `cdr` steps. Returns the channel.
    pub fn add_call(&self, call_id: &str, ext: &str, steps: &[Step]) -> String {
        let channel = format!("PJSIP/{ext}-{call_id}");
        let bodies = ["bye", "cdr"]
            .iter()
            .map(|l| {
                steps
                    .iter()
                    .find(|s| s.label == *l)
                    .unwrap_or_else(|| panic!("no {l} step"))
                    .body
                    .clone()
            })
            .collect();
        self.state
            .lock()
            .unwrap()
            .calls
            .insert(channel.clone(), bodies);
        channel
    }

    /// Makes call `call_id` from `caller` to `ext` known to the call
    /// control (transfer, park, hold, listen).
    pub fn control_call(&self, call_id: &str, caller: &str, ext: &str) {
        self.state
            .lock()
            .unwrap()
            .control
            .add_call(call_id, caller, ext);
    }

    /// The extensions and queues the PBX lists (ids 100, 101, ...).
    pub fn list(&self, extensions: &[&str], queues: &[&str]) {
        let mut s = self.state.lock().unwrap();
        s.control.extensions = extensions.iter().map(|e| e.to_string()).collect();
        s.control.queues = queues.iter().map(|e| e.to_string()).collect();
    }

    /// The control requests seen: path (under `/openapi/v1.0/`) and body.
    pub fn control_seen(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().control.seen.clone()
    }

    /// Tokens issued from now on live this long.
    pub fn set_lifetimes(&self, access: Duration, refresh: Duration) {
        let mut s = self.state.lock().unwrap();
        s.access_life = access;
        s.refresh_life = refresh;
    }

    /// Forgets every token (as a PBX restart would): the next request with
    /// one is answered [`BAD_TOKEN`].
    pub fn revoke_tokens(&self) {
        let mut s = self.state.lock().unwrap();
        s.access.clear();
        s.refresh.clear();
    }

    /// Hang-ups are answered with this error from now on (`None`: normal).
    pub fn fail_hangups(&self, error: Option<(i64, &str)>) {
        self.state.lock().unwrap().error = error.map(|(c, m)| (c, m.to_string()));
    }

    /// Hang-ups are answered after this long from now on.
    pub fn delay_hangups(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// The channels hung up, in order.
    pub fn hung_up(&self) -> Vec<String> {
        self.state.lock().unwrap().hung_up.clone()
    }

    pub fn count(&self, c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
}

/// A new token pair, as `get_token` and `refresh_token` answer it.
fn issue(s: &mut PbxState) -> Value {
    s.serial += 1;
    let access = format!("fakeaccess{:022}", s.serial);
    let refresh = format!("fakerefresh{:021}", s.serial);
    let now = Instant::now();
    s.access.insert(access.clone(), now + s.access_life);
    s.refresh.insert(refresh.clone(), now + s.refresh_life);
    json!({
        "errcode": 0, "errmsg": "SUCCESS",
        "access_token_expire_time": s.access_life.as_secs(),
        "access_token": access,
        "refresh_token_expire_time": s.refresh_life.as_secs(),
        "refresh_token": refresh,
    })
}

// --------------------------------------------------------------- Dialpad

/// The fake Dialpad's API key.
pub const DIALPAD_KEY: &str = "fake-dialpad-api-key-0123456789";

#[derive(Default)]
struct DialpadState {
    /// Dialpad call id → the claims of its `hangup` event.
    calls: HashMap<String, Vec<u8>>,
    hung_up: Vec<String>,
    /// Call control requests: path (under `/api/v2/`) and body.
    control: Vec<(String, Value)>,
    /// Answer control requests with this status and message.
    error: Option<(u16, String)>,
    /// Answer control requests after this long.
    delay: Duration,
}

/// A fake Dialpad API v2.
pub struct Dialpad {
    pub server: Server,
    state: Arc<Mutex<DialpadState>>,
    /// Requests seen: method, path, Authorization header.
    pub seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Dialpad {
    /// A fake Dialpad that reports hang-ups to ingest at `ingest` for
    /// source `source`, signing with `secret`.
    pub async fn start(ingest: String, source: &str, secret: &str) -> Dialpad {
        let state = Arc::new(Mutex::new(DialpadState::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (st, sn) = (state.clone(), seen.clone());
        let source = source.to_string();
        let secret = secret.to_string();
        let handler: Handler = Arc::new(move |req: Req| {
            let (st, sn) = (st.clone(), sn.clone());
            let (ingest, source, secret) = (ingest.clone(), source.clone(), secret.clone());
            Box::pin(async move {
                let auth = req.header("authorization").unwrap_or_default().to_string();
                sn.lock()
                    .unwrap()
                    .push((req.method.clone(), req.path.clone(), auth.clone()));
                if auth != format!("Bearer {DIALPAD_KEY}") {
                    return Resp {
                        status: 401,
                        body: json!({"error": {"code": 401, "message": "Invalid API key"}}),
                    };
                }
                let (error, delay) = {
                    let s = st.lock().unwrap();
                    (s.error.clone(), s.delay)
                };
                let control = {
                    let mut guard = st.lock().unwrap();
                    let s = &mut *guard;
                    if let Some((status, message)) =
                        error.filter(|_| !req.path.ends_with("/hangup"))
                    {
                        s.control.push((req.path.clone(), Value::Null));
                        Some((
                            status,
                            json!({"error": {"code": status, "message": message}}),
                            vec![],
                        ))
                    } else {
                        fake_control::dialpad(&req, &mut s.calls, &mut s.control)
                    }
                };
                if let Some((status, body, events)) = control {
                    tokio::time::sleep(delay).await;
                    if !events.is_empty() {
                        let reqs = events
                            .iter()
                            .map(|c| testkit::sign_dialpad(Some(&secret), c))
                            .collect();
                        tokio::spawn(deliver(ingest, source, reqs));
                    }
                    return Resp { status, body };
                }
                let id = req
                    .path
                    .strip_prefix("/api/v2/call/")
                    .and_then(|r| r.strip_suffix("/actions/hangup"))
                    .map(str::to_string);
                match (req.method.as_str(), id) {
                    ("PUT", Some(id)) => {
                        let claims = {
                            let mut s = st.lock().unwrap();
                            let Some(c) = s.calls.remove(&id) else {
                                return Resp {
                                    status: 404,
                                    body: json!({"error": {"code": 404, "message": "Call not found"}}),
                                };
                            };
                            s.hung_up.push(id.clone());
                            c
                        };
                        let reqs = vec![testkit::sign_dialpad(Some(&secret), &claims)];
                        tokio::spawn(deliver(ingest, source, reqs));
                        ok(json!({"call_id": id, "state": "hangup"}))
                    }
                    _ => Resp {
                        status: 404,
                        body: json!({"error": {"code": 404, "message": "Not found"}}),
                    },
                }
            })
        });
        Dialpad {
            server: serve(handler).await,
            state,
            seen,
        }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// Makes the fake know call `id`; hanging it up posts `hangup_claims`.
    pub fn add_call(&self, id: &str, hangup_claims: &[u8]) {
        self.state
            .lock()
            .unwrap()
            .calls
            .insert(id.to_string(), hangup_claims.to_vec());
    }

    pub fn hung_up(&self) -> Vec<String> {
        self.state.lock().unwrap().hung_up.clone()
    }

    /// The call control requests seen: path (under `/api/v2/`) and body.
    pub fn control_seen(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().control.clone()
    }

    /// Control requests are answered with this error from now on.
    pub fn fail_control(&self, error: Option<(u16, &str)>) {
        self.state.lock().unwrap().error = error.map(|(c, m)| (c, m.to_string()));
    }

    /// Control requests are answered after this long from now on.
    pub fn delay_control(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }
}
