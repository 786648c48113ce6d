//! The public edge against a stranger: what a hostile request costs, what it
//! is answered, and that it changes nothing. Each test reproduces a finding
//! of the review that failed before its fix.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use domain::signature::{sign_dialpad, sign_standard, sign_yeastar};
use ingest::IngestConfig;
use testkit::{fixture, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{app, metrics_page, start, yeastar_headers, App};

/// A slug no source can have: long, random, with characters outside the
/// allowed set.
fn stranger_slug(i: usize) -> String {
    format!("{}-{i}-{}", "Xq9".repeat(60), "zz".repeat(i % 7))
}

#[tokio::test]
async fn unknown_slugs_never_become_metrics_labels_whatever_the_outcome() {
    let mut app = app().await;
    let before = metrics_page(&mut app.admin).await;
    let big = vec![b'{'; 70 * 1024]; // over the test's 64 KiB limit
    let mut slugs = Vec::new();
    for i in 0..20 {
        let slug = stranger_slug(i);
        // An oversized body, a malformed one, and a well-formed one: before
        // the fix each outcome (413, 400, 503...) labelled the slug.
        let body: &[u8] = match i % 3 {
            0 => &big,
            1 => b"\xff\xfe not json",
            _ => b"{}",
        };
        let (status, _) = app.post(&slug, &[], body).await;
        assert_eq!(status, 404, "slug {slug}");
        slugs.push(slug);
    }
    let after = metrics_page(&mut app.admin).await;
    for slug in &slugs {
        assert!(!after.contains(slug.as_str()), "{slug} became a label");
    }
    // Counters of the same label set only change value: the page grows by
    // the few new series, not by 20 slugs (each > 180 bytes).
    assert!(
        after.len() < before.len() + 2_000,
        "metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
    assert_eq!(app.inbox().await, 0);
}

#[tokio::test]
async fn nul_and_newline_in_the_slug_are_404_not_503() {
    let mut app = app().await;
    for slug in [
        "pbx%00",
        "%00",
        "pbx%0Aforged",
        "pbx%0D%0Ax",
        "..%2F..%2Fetc",
        "PBX",
    ] {
        let (status, v) = app.post(slug, &[], b"{}").await;
        assert_eq!(status, 404, "{slug}: {v}");
        assert_eq!(v["error"], "not_found", "{slug}");
    }
    assert_eq!(app.inbox().await, 0);
}

#[tokio::test]
async fn the_source_is_looked_up_before_the_body_is_read() {
    let app = app().await;
    // An unknown source announcing 1 GiB and sending none of it: answered
    // at once from the headers, without waiting for (or reading) a byte.
    let mut s = TcpStream::connect(&app.authority).await.expect("connect");
    s.write_all(b"POST /webhooks/nobody HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let head = read_head(&mut s, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_deadline() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["old-secret"])
        .await
        .expect("source");
    let app = start(
        db,
        IngestConfig {
            body_timeout: Duration::from_secs(1),
            source_cache_ttl: Duration::ZERO,
            ..Default::default()
        },
    )
    .await;
    let s = TcpStream::connect(&app.authority).await.expect("connect");
    let (mut rx, mut tx) = s.into_split();
    tx.write_all(b"POST /webhooks/pbx HTTP/1.1\r\nHost: x\r\nX-Signature: AAAA\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .expect("write");
    // One byte every 300 ms for up to 10 s, while the answer is awaited:
    // before the fix the server waited as long as bytes kept coming.
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..33 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if tx.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let head = read_head(&mut rx, Duration::from_secs(8)).await;
    let held = started.elapsed();
    trickle.abort();
    assert!(
        head.starts_with("HTTP/1.1 408"),
        "expected a 408, got {head:?} after {held:?}"
    );
    assert!(
        held < Duration::from_secs(4),
        "the connection was held {held:?}"
    );
    assert_eq!(app.inbox().await, 0);
}

/// Reads an HTTP response head (up to the blank line, or what arrives
/// before the connection closes or `limit` passes).
async fn read_head<R: AsyncReadExt + Unpin>(s: &mut R, limit: Duration) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A log sink for the test's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn request_text_cannot_forge_log_lines() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .init();
    let mut app = app().await;
    let forged = "pbx%0A2026-01-01T00:00:00Z%20INFO%20FORGED%20admin%20logged%20in";
    let (status, _) = app.post(forged, &[], b"{}").await;
    assert_eq!(status, 404);
    // A refusal for a known source logs under the source, not the slug.
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let (status, _) = app
        .post("pbx", &yeastar_headers("wrong-secret", &body), &body)
        .await;
    assert_eq!(status, 401);
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(text.contains("refused"), "the refusal is logged:\n{text}");
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("2026-01-01") && !line.contains("\nFORGED"),
            "forged line: {line}"
        );
    }
    assert!(
        !text
            .lines()
            .any(|l| l.contains("FORGED") && !l.contains("slug")),
        "request text outside an escaped field:\n{text}"
    );
}

/// One hostile request and the answer it must get.
struct Probe {
    what: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    expect: u16,
}

fn probe(
    what: &'static str,
    path: &str,
    headers: Vec<(String, String)>,
    body: impl Into<Vec<u8>>,
    expect: u16,
) -> Probe {
    Probe {
        what,
        method: "POST",
        path: path.to_string(),
        headers,
        body: body.into(),
        expect,
    }
}

fn hd(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The Dialpad fixture's claims with `extra` fields merged in, as JSON.
fn claims_with(extra: serde_json::Value) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("dialpad/call-ringing.json")).expect("fixture json");
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    serde_json::to_vec(&v).expect("json")
}

/// What the hostile probes are made of: the legitimate bodies, secrets and
/// signatures they tamper with.
struct Inputs {
    now: i64,
    /// A Yeastar body, and its signature with `pbx`'s secret.
    yb: Vec<u8>,
    ysig: String,
    /// Dialpad claims, and their JWT with `dp`'s (and `dp2`'s) secret.
    claims: Vec<u8>,
    jwt: String,
    /// `generic`'s Standard Webhooks secret, a body, and its signature as `msg_1` now.
    whsec: String,
    sb: Vec<u8>,
    good_std: String,
}

fn inputs() -> Inputs {
    let now = chrono::Utc::now().timestamp();
    let yb = fixture("yeastar/30011-inbound-ringing.json");
    let claims = fixture("dialpad/call-ringing.json");
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef")
    );
    let sb = br#"{"type":"contact.updated","data":{"id":1}}"#.to_vec();
    Inputs {
        now,
        ysig: sign_yeastar("old-secret", &yb),
        jwt: sign_dialpad("dp-secret", &claims),
        good_std: sign_standard(&whsec, "msg_1", now, &sb).expect("sign"),
        yb,
        claims,
        whsec,
        sb,
    }
}

fn ys(sig: &str) -> Vec<(String, String)> {
    hd(&[("X-Signature", sig)])
}

fn std_h(id: &str, ts: &str, sig: &str) -> Vec<(String, String)> {
    hd(&[
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", sig),
    ])
}

/// Slugs no source can have, an unknown source and a disabled one: 404.
fn slug_probes(i: &Inputs) -> Vec<Probe> {
    vec![
        probe(
            "unknown source",
            "/webhooks/nobody",
            ys(&i.ysig),
            i.yb.clone(),
            404,
        ),
        probe(
            "NUL in the slug (%00)",
            "/webhooks/pbx%00",
            ys(&i.ysig),
            i.yb.clone(),
            404,
        ),
        probe(
            "newline in the slug (%0A)",
            "/webhooks/pbx%0Aforged",
            vec![],
            "{}",
            404,
        ),
        probe(
            "CRLF in the slug",
            "/webhooks/pbx%0D%0Ax",
            vec![],
            "{}",
            404,
        ),
        probe(
            "200-character slug",
            &format!("/webhooks/{}", "a".repeat(200)),
            vec![],
            "{}",
            404,
        ),
        probe(
            "upper-case slug",
            "/webhooks/PBX",
            ys(&i.ysig),
            i.yb.clone(),
            404,
        ),
        probe(
            "path traversal in the slug",
            "/webhooks/..%2F..%2Fetc",
            vec![],
            "{}",
            404,
        ),
        probe(
            "disabled source",
            "/webhooks/off",
            ys(&i.ysig),
            i.yb.clone(),
            404,
        ),
    ]
}

/// A body over the limit, and Yeastar signatures missing, malformed,
/// oversized, wrong or for another body; the legitimate event and its
/// replay.
fn yeastar_probes(i: &Inputs) -> Vec<Probe> {
    let yb = &i.yb;
    vec![
        probe(
            "body over the limit",
            "/webhooks/pbx",
            ys(&i.ysig),
            vec![b'{'; 70 * 1024],
            413,
        ),
        probe(
            "Yeastar: no X-Signature",
            "/webhooks/pbx",
            vec![],
            yb.clone(),
            401,
        ),
        probe(
            "Yeastar: X-Signature not Base64",
            "/webhooks/pbx",
            ys("%%%"),
            yb.clone(),
            401,
        ),
        probe(
            "Yeastar: 2 KB X-Signature",
            "/webhooks/pbx",
            ys(&"A".repeat(2048)),
            yb.clone(),
            400,
        ),
        probe(
            "Yeastar: wrong secret",
            "/webhooks/pbx",
            ys(&sign_yeastar("guessed-secret", yb)),
            yb.clone(),
            401,
        ),
        probe(
            "Yeastar: tampered body",
            "/webhooks/pbx",
            ys(&i.ysig),
            String::from_utf8_lossy(yb).replace("RING", "BYE"),
            401,
        ),
        probe(
            "Yeastar: another body's signature",
            "/webhooks/pbx",
            ys(&sign_yeastar("old-secret", b"{}")),
            yb.clone(),
            401,
        ),
        probe(
            "Yeastar: body with a trailing newline",
            "/webhooks/pbx",
            ys(&i.ysig),
            [yb.clone(), b"\n".to_vec()].concat(),
            401,
        ),
        probe(
            "Yeastar: empty body, no signature",
            "/webhooks/pbx",
            vec![],
            "",
            401,
        ),
        probe(
            "Yeastar: valid (legitimate)",
            "/webhooks/pbx",
            ys(&i.ysig),
            yb.clone(),
            200,
        ),
        probe(
            "Yeastar: replay within the window",
            "/webhooks/pbx",
            ys(&i.ysig),
            yb.clone(),
            200,
        ),
    ]
}

/// Dialpad bodies unsigned, `alg none`, another algorithm, truncated,
/// malformed, wrongly signed, expired or not yet valid; the legitimate JWT,
/// bare and wrapped in whitespace.
fn dialpad_probes(i: &Inputs) -> Vec<Probe> {
    let (claims, jwt, now) = (&i.claims, &i.jwt, i.now);
    let jwt_alg = |alg: &str| {
        let h = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        let p = b64url(claims);
        let good = jwt.rsplit('.').next().unwrap_or_default();
        format!("{h}.{p}.{good}")
    };
    vec![
        probe(
            "Dialpad: unsigned JSON, source without a secret",
            "/webhooks/dp-nokey",
            vec![],
            claims.clone(),
            401,
        ),
        probe(
            "Dialpad: alg none, source without a secret",
            "/webhooks/dp-nokey",
            vec![],
            format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(claims)),
            401,
        ),
        probe(
            "Dialpad: valid JWT (legitimate)",
            "/webhooks/dp2",
            vec![],
            jwt.clone(),
            200,
        ),
        probe(
            "Dialpad: the same JWT wrapped in whitespace",
            "/webhooks/dp2",
            vec![],
            format!("\n  {jwt}\t\n"),
            200,
        ),
        probe(
            "Dialpad: plain JSON to a source with a secret",
            "/webhooks/dp2",
            vec![],
            claims.clone(),
            401,
        ),
        probe(
            "Dialpad: alg none to a source with a secret",
            "/webhooks/dp2",
            vec![],
            format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(claims)),
            401,
        ),
        probe(
            "Dialpad: alg HS512",
            "/webhooks/dp2",
            vec![],
            jwt_alg("HS512"),
            401,
        ),
        probe(
            "Dialpad: two-part JWT",
            "/webhooks/dp2",
            vec![],
            jwt.rsplit_once('.')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default(),
            401,
        ),
        probe(
            "Dialpad: header not Base64url",
            "/webhooks/dp2",
            vec![],
            format!("%%%.{}.AAAA", b64url(claims)),
            401,
        ),
        probe(
            "Dialpad: wrong secret",
            "/webhooks/dp2",
            vec![],
            sign_dialpad("guessed-secret", claims),
            401,
        ),
        probe(
            "Dialpad: expired (exp an hour ago)",
            "/webhooks/dp2",
            vec![],
            sign_dialpad(
                "dp-secret",
                &claims_with(serde_json::json!({"exp": now - 3600})),
            ),
            401,
        ),
        probe(
            "Dialpad: not yet valid (nbf in an hour)",
            "/webhooks/dp2",
            vec![],
            sign_dialpad(
                "dp-secret",
                &claims_with(serde_json::json!({"nbf": now + 3600})),
            ),
            401,
        ),
        probe(
            "Dialpad: non-UTF-8 body",
            "/webhooks/dp2",
            vec![],
            b"\xff\xfe\xfd.\xff.\xff".to_vec(),
            401,
        ),
    ]
}

/// A signed event from outside `dp`'s allowed networks, directly or with
/// a forged `X-Forwarded-For` (no proxy is trusted).
fn network_probes(i: &Inputs) -> Vec<Probe> {
    vec![
        probe(
            "Dialpad: sender outside the allowed networks",
            "/webhooks/dp",
            vec![],
            i.jwt.clone(),
            403,
        ),
        probe(
            "Dialpad: forged X-Forwarded-For from an untrusted peer",
            "/webhooks/dp",
            hd(&[("X-Forwarded-For", "198.51.100.7")]),
            i.jwt.clone(),
            403,
        ),
    ]
}

/// Standard Webhooks headers missing, out of range, too old, too many,
/// too long, of another version or replayed under another id; the
/// legitimate message.
fn standard_probes(i: &Inputs) -> Vec<Probe> {
    let (now, whsec, sb, good_std) = (i.now, &i.whsec, &i.sb, &i.good_std);
    let long_id = "i".repeat(4096);
    let long_id_sig = sign_standard(whsec, &long_id, now, sb).expect("sign");
    let many = vec!["v1,AAAA"; 4000].join(" ");
    let nine = format!("{} {good_std}", ["v1,AAAA"; 8].join(" "));
    vec![
        probe(
            "Standard: no webhook-id",
            "/webhooks/generic",
            hd(&[
                ("webhook-timestamp", &now.to_string()),
                ("webhook-signature", good_std),
            ]),
            sb.clone(),
            401,
        ),
        probe(
            "Standard: timestamp i64::MIN",
            "/webhooks/generic",
            std_h("msg_2", "-9223372036854775808", good_std),
            sb.clone(),
            401,
        ),
        probe(
            "Standard: timestamp not an integer",
            "/webhooks/generic",
            std_h("msg_2", "abc", good_std),
            sb.clone(),
            400,
        ),
        probe(
            "Standard: timestamp an hour old",
            "/webhooks/generic",
            std_h(
                "msg_2",
                &(now - 3600).to_string(),
                &sign_standard(whsec, "msg_2", now - 3600, sb).unwrap_or_default(),
            ),
            sb.clone(),
            401,
        ),
        probe(
            "Standard: 4,000 v1 entries",
            "/webhooks/generic",
            std_h("msg_2", &now.to_string(), &many),
            sb.clone(),
            400,
        ),
        probe(
            "Standard: nine entries, one valid",
            "/webhooks/generic",
            std_h("msg_1", &now.to_string(), &nine),
            sb.clone(),
            400,
        ),
        probe(
            "Standard: validly signed 4 KB webhook-id",
            "/webhooks/generic",
            std_h(&long_id, &now.to_string(), &long_id_sig),
            sb.clone(),
            400,
        ),
        probe(
            "Standard: only v2 entries",
            "/webhooks/generic",
            std_h("msg_1", &now.to_string(), &good_std.replace("v1,", "v2,")),
            sb.clone(),
            401,
        ),
        probe(
            "Standard: signature replayed under another id",
            "/webhooks/generic",
            std_h("msg_9", &now.to_string(), good_std),
            sb.clone(),
            401,
        ),
        probe(
            "Standard: valid (legitimate)",
            "/webhooks/generic",
            std_h("msg_1", &now.to_string(), good_std),
            sb.clone(),
            200,
        ),
    ]
}

/// The webhook route is matched by prefix (routes::public): a path with
/// more or fewer segments, or another method, is no route; nor are the
/// operators' pages on the public port.
fn route_probes() -> Vec<Probe> {
    [
        ("GET on the webhook route", "GET", "/webhooks/pbx"),
        ("PUT on the webhook route", "PUT", "/webhooks/pbx"),
        ("a segment after the source", "POST", "/webhooks/pbx/extra"),
        ("no source", "POST", "/webhooks/"),
        ("the bare prefix", "POST", "/webhooks"),
        ("a longer first segment", "POST", "/webhooksx/pbx"),
        ("/metrics on the public port", "GET", "/metrics"),
        ("/readyz on the public port", "GET", "/readyz"),
    ]
    .into_iter()
    .map(|(what, method, path)| Probe {
        what,
        method,
        path: path.into(),
        headers: vec![],
        body: vec![],
        expect: 404,
    })
    .collect()
}

/// Every hostile input of the review, in the order they are sent.
fn all_probes(i: &Inputs) -> Vec<Probe> {
    let mut all = slug_probes(i);
    all.extend(yeastar_probes(i));
    all.extend(dialpad_probes(i));
    all.extend(network_probes(i));
    all.extend(standard_probes(i));
    all.extend(route_probes());
    all
}

/// [`app`] with the sources the probes aim at: `off` (disabled),
/// `dp-nokey` (Dialpad without a secret, not unsigned), `dp` open only to
/// 198.51.100.0/24, and `dp2` (signed Dialpad, any network).
async fn hostile_app() -> App {
    let app = app().await;
    for sql in [
        "INSERT INTO sources (name, provider, enabled) VALUES ('off', 'yeastar', false)",
        "INSERT INTO sources (name, provider) VALUES ('dp-nokey', 'dialpad')",
        "UPDATE sources SET allowed_networks = '{198.51.100.0/24}' WHERE name = 'dp'",
    ] {
        app.db.exec(sql).await.expect("sources");
    }
    app.db
        .add_source("dp2", "dialpad", &["dp-secret"])
        .await
        .expect("dp2");
    app
}

/// Sends every probe, `rounds` times over: each gets its answer, none a
/// 5xx. Returns the size of the metrics page after each round, and the
/// answers of the first round as a Markdown table.
async fn run(app: &mut App, probes: &[Probe], rounds: usize) -> (Vec<usize>, String) {
    let mut sizes = Vec::new();
    let mut table = String::from("| # | hostile input | answer |\n|---:|---|---|\n");
    for round in 0..rounds {
        for (i, p) in probes.iter().enumerate() {
            let r = app
                .client
                .request(p.method, &p.path, &p.headers, &p.body)
                .await
                .expect("request");
            assert!(r.status < 500, "{}: {} {}", p.what, r.status, r.text());
            assert_eq!(r.status, p.expect, "{}: {}", p.what, r.text());
            if round == 0 {
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
                let word = v["status"].as_str().or(v["error"].as_str()).unwrap_or("");
                table.push_str(&format!(
                    "| {} | {} | {} {} |\n",
                    i + 1,
                    p.what,
                    r.status,
                    word
                ));
            }
        }
        sizes.push(metrics_page(&mut app.admin).await.len());
    }
    (sizes, table)
}

#[tokio::test]
async fn hostile_slugs_and_unknown_or_disabled_sources_are_404() {
    let mut app = hostile_app().await;
    run(&mut app, &slug_probes(&inputs()), 2).await;
    assert_eq!(app.inbox().await, 0);
}

#[tokio::test]
async fn hostile_yeastar_requests_get_their_answers_and_store_one_event() {
    let mut app = hostile_app().await;
    run(&mut app, &yeastar_probes(&inputs()), 2).await;
    // The legitimate event, once: every replay was a duplicate.
    assert_eq!(app.inbox().await, 1);
}

#[tokio::test]
async fn hostile_dialpad_requests_get_their_answers_and_store_one_event() {
    let mut app = hostile_app().await;
    run(&mut app, &dialpad_probes(&inputs()), 2).await;
    assert_eq!(app.inbox().await, 1);
}

#[tokio::test]
async fn senders_outside_the_allowed_networks_are_403() {
    let mut app = hostile_app().await;
    run(&mut app, &network_probes(&inputs()), 2).await;
    assert_eq!(app.inbox().await, 0);
}

#[tokio::test]
async fn hostile_standard_webhooks_get_their_answers_and_store_one_event() {
    let mut app = hostile_app().await;
    run(&mut app, &standard_probes(&inputs()), 2).await;
    assert_eq!(app.inbox().await, 1);
}

#[tokio::test]
async fn only_the_webhook_route_and_its_method_answer_on_the_public_port() {
    let mut app = hostile_app().await;
    run(&mut app, &route_probes(), 2).await;
    assert_eq!(app.inbox().await, 0);
}

/// Every hostile input of the review, three times over, against one
/// server: nothing unsigned is stored, the server stays up, and the
/// metrics page stays flat when the run repeats.
#[tokio::test]
async fn hostile_inputs_get_their_answers_and_change_nothing() {
    let mut app = hostile_app().await;
    let probes = all_probes(&inputs());
    let (sizes, table) = run(&mut app, &probes, 3).await;
    println!("{table}");
    println!("metrics page after each round: {sizes:?} bytes");
    // Only the three legitimate events were stored; every replay was a duplicate.
    assert_eq!(app.inbox().await, 3);
    let health = app
        .client
        .request("GET", "/healthz", &[], b"")
        .await
        .expect("healthz");
    assert_eq!(health.status, 200);
    // Rounds 2 and 3 add no series: only counter values change.
    assert!(sizes[2] < sizes[1] + 200, "metrics grew: {sizes:?}");
    assert!(probes.len() >= 40, "{} probes", probes.len());
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_sender_is_checked() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["old-secret"])
        .await
        .expect("source");
    db.exec("UPDATE sources SET allowed_networks = '{198.51.100.0/24}' WHERE name = 'pbx'")
        .await
        .expect("networks");
    let mut app = start(
        db,
        IngestConfig {
            trusted_proxies: vec!["127.0.0.0/8".parse().expect("cidr")],
            source_cache_ttl: Duration::ZERO,
            ..Default::default()
        },
    )
    .await;
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let mut from_pbx = yeastar_headers("old-secret", &body);
    // What the client claims (left) is not believed; what our proxy saw
    // (the right-most untrusted entry) is.
    from_pbx.push((
        "X-Forwarded-For".into(),
        "203.0.113.66, 198.51.100.7".into(),
    ));
    assert_eq!(app.post("pbx", &from_pbx, &body).await.0, 200);
    let mut forged = yeastar_headers("old-secret", &body);
    forged.push((
        "X-Forwarded-For".into(),
        "198.51.100.7, 203.0.113.66".into(),
    ));
    assert_eq!(app.post("pbx", &forged, &body).await.0, 403);
    assert_eq!(app.inbox().await, 1);
}
