//! The receiver over HTTP, on a random port, against a fresh database per
//! test: signatures, refusals, duplicates, and the inbox row count after each.

use std::net::TcpListener;
use std::time::Duration;

use base64::Engine;
use ingest::IngestConfig;
use serde_json::Value;
use testkit::{
    fixture, post_webhook, sign_dialpad, sign_standard, sign_yeastar, Counter, SignedRequest,
    TestDb,
};
use traffic::Client;

pub(crate) struct App {
    pub(crate) db: TestDb,
    pub(crate) client: Client,
    /// The operators' port: /metrics, /readyz.
    pub(crate) admin: Client,
    pub(crate) authority: String,
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) async fn start(db: TestDb, cfg: IngestConfig) -> App {
    let pool = store::pool(&db.url, 4, Duration::from_secs(5)).expect("pool");
    let (authority, admin) = start_server(pool, cfg);
    App {
        db,
        client: Client::new(authority.clone(), Duration::from_secs(10)),
        admin: Client::new(admin, Duration::from_secs(10)),
        authority,
    }
}

/// Starts the server on random ports; returns the public and the
/// operators' `host:port`.
pub(crate) fn start_server(pool: store::PgPool, cfg: IngestConfig) -> (String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let admin = TcpListener::bind("127.0.0.1:0").expect("bind");
    let admin_port = admin.local_addr().expect("addr").port();
    let cfg = IngestConfig {
        http_workers: Some(1),
        ..cfg
    };
    let server = ingest::serve(
        listener,
        Some(admin),
        pool,
        cfg,
        telemetry::install_metrics(),
    )
    .expect("server");
    tokio::spawn(server);
    (
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:{admin_port}"),
    )
}

pub(crate) async fn app() -> App {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["old-secret", "new-secret"])
        .await
        .expect("source");
    db.add_source("dp", "dialpad", &["dp-secret"])
        .await
        .expect("source");
    db.add_source("dp-open", "dialpad", &[])
        .await
        .expect("source");
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef")
    );
    db.add_source("generic", "standard", &[&whsec])
        .await
        .expect("source");
    start(
        db,
        IngestConfig {
            max_body_bytes: 64 * 1024,
            // Tests change sources and expect the next request to see it.
            source_cache_ttl: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
}

impl App {
    /// Posts `body` with `headers` (signed or not) for `source`; returns
    /// the status and the JSON answer.
    pub(crate) async fn post(
        &mut self,
        source: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> (u16, Value) {
        let req = SignedRequest {
            headers: headers.to_vec(),
            body: body.to_vec(),
        };
        let p = post_webhook(&mut self.client, source, &req)
            .await
            .expect("request");
        (p.status, p.json)
    }

    /// The events stored.
    pub(crate) async fn inbox(&self) -> i64 {
        self.db.counts().await.expect("counts").events
    }
}

/// The headers of `body` signed by Yeastar with `secret`.
pub(crate) fn yeastar_headers(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    sign_yeastar(secret, body).headers
}

#[tokio::test]
async fn yeastar_signed_body_is_stored_exactly() {
    let mut app = app().await;
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let (status, v) = app
        .post("pbx", &yeastar_headers("old-secret", &body), &body)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "accepted");
    let id = v["id"].as_i64().expect("id");
    assert_eq!(app.inbox().await, 1);
    let mut c = app.db.conn().await.expect("conn");
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use store::schema::webhook_events as w;
    let (stored, src, processed): (Vec<u8>, String, Option<chrono::DateTime<chrono::Utc>>) =
        w::table
            .find(id)
            .select((w::body, w::source, w::processed_at))
            .first(&mut c)
            .await
            .expect("row");
    assert_eq!(stored, body, "raw bytes exactly as received");
    assert_eq!(src, "pbx");
    assert!(processed.is_none(), "pending until a worker applies it");
}

#[tokio::test]
async fn yeastar_refusals_store_nothing() {
    let mut app = app().await;
    let body = fixture("yeastar/30011-inbound-answered.json");
    let good = yeastar_headers("old-secret", &body);
    // Tampered body.
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let (s, v) = app.post("pbx", &good, &tampered).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{v}");
    // Wrong secret.
    let (s, _) = app
        .post("pbx", &yeastar_headers("guess", &body), &body)
        .await;
    assert_eq!(s, 401);
    // Missing header.
    let (s, v) = app.post("pbx", &[], &body).await;
    assert_eq!(s, 401);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("X-Signature")),
        "{v}"
    );
    // Not Base64.
    let (s, _) = app.post("pbx", &h(&[("X-Signature", "@@@")]), &body).await;
    assert_eq!(s, 401);
    assert_eq!(app.inbox().await, 0);
}

#[tokio::test]
async fn rotated_secrets_are_all_accepted_and_revoked_ones_not() {
    let mut app = app().await;
    let a = fixture("yeastar/30011-inbound-ringing.json");
    let b = fixture("yeastar/30011-inbound-answered.json");
    assert_eq!(
        app.post("pbx", &yeastar_headers("old-secret", &a), &a)
            .await
            .0,
        200
    );
    assert_eq!(
        app.post("pbx", &yeastar_headers("new-secret", &b), &b)
            .await
            .0,
        200
    );
    assert_eq!(app.inbox().await, 2);
    let mut c = app.db.conn().await.expect("conn");
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            // Secrets are sealed: old-secret is pbx's first row.
            "UPDATE source_secrets SET revoked_at = now()
             WHERE id = (SELECT min(id) FROM source_secrets WHERE source = 'pbx')",
        ),
        &mut c,
    )
    .await
    .expect("revoke");
    let d = fixture("yeastar/30011-inbound-bye.json");
    assert_eq!(
        app.post("pbx", &yeastar_headers("old-secret", &d), &d)
            .await
            .0,
        401
    );
    assert_eq!(
        app.post("pbx", &yeastar_headers("new-secret", &d), &d)
            .await
            .0,
        200
    );
    assert_eq!(app.inbox().await, 3);
}

#[tokio::test]
async fn duplicate_delivery_answers_200_and_is_stored_once() {
    let mut app = app().await;
    let body = fixture("yeastar/30011-inbound-hold.json");
    let hd = yeastar_headers("new-secret", &body);
    let (s1, v1) = app.post("pbx", &hd, &body).await;
    let (s2, v2) = app.post("pbx", &hd, &body).await;
    let (s3, v3) = app.post("pbx", &hd, &body).await;
    assert_eq!((s1, s2, s3), (200, 200, 200));
    assert_eq!(v1["status"], "accepted");
    assert_eq!(v2["status"], "duplicate");
    assert_eq!(v3["status"], "duplicate");
    assert_eq!(v1["id"], v2["id"]);
    assert_eq!(v1["id"], v3["id"]);
    assert_eq!(app.inbox().await, 1);

    // After the Yeastar dedup window, an identical body is a new event
    // (resume after hold repeats the answer snapshot).
    let mut c = app.db.conn().await.expect("conn");
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE events SET received_at = now() - interval '2 minutes'"),
        &mut c,
    )
    .await
    .expect("age the row");
    let (s4, v4) = app.post("pbx", &hd, &body).await;
    assert_eq!(s4, 200);
    assert_eq!(v4["status"], "accepted");
    assert_ne!(v4["id"], v1["id"]);
    assert_eq!(app.inbox().await, 2);
    // And its own retries are duplicates again.
    let (_, v5) = app.post("pbx", &hd, &body).await;
    assert_eq!(v5["id"], v4["id"]);
    assert_eq!(app.inbox().await, 2);
}

#[tokio::test]
async fn concurrent_duplicates_are_stored_once() {
    let app = app().await;
    let body = fixture("yeastar/30011-inbound-bye.json");
    let hd = yeastar_headers("old-secret", &body);
    let authority = app.authority.clone();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (hd, body, authority) = (hd.clone(), body.clone(), authority.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(authority, Duration::from_secs(10));
            let req = SignedRequest { headers: hd, body };
            let p = post_webhook(&mut c, "pbx", &req).await.expect("post");
            (p.status, p.json["id"].clone())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (s, id) = t.await.expect("task");
        assert_eq!(s, 200);
        ids.insert(id.to_string());
    }
    assert_eq!(ids.len(), 1, "every answer names the one stored row");
    assert_eq!(app.inbox().await, 1);
}

#[tokio::test]
async fn dialpad_jwt_plain_and_alg_none() {
    let mut app = app().await;
    let claims = fixture("dialpad/call-ringing.json");
    let jwt = sign_dialpad(Some("dp-secret"), &claims);
    let (s, v) = app.post("dp", &jwt.headers, &jwt.body).await;
    assert_eq!(s, 200, "{v}");
    // Wrong secret.
    let bad = sign_dialpad(Some("nope"), &claims);
    assert_eq!(app.post("dp", &bad.headers, &bad.body).await.0, 401);
    // alg none, no signature.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(&claims)
    );
    let (s, v) = app.post("dp", &[], none.as_bytes()).await;
    assert_eq!(s, 401);
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("none")),
        "{v}"
    );
    // Plain JSON to a source that has a secret: refused.
    assert_eq!(app.post("dp", &[], &claims).await.0, 401);
    // Plain JSON to a source without a secret: accepted.
    assert_eq!(app.post("dp-open", &[], &claims).await.0, 200);
    assert_eq!(app.inbox().await, 2);
}

#[tokio::test]
async fn standard_webhooks_signature_and_timestamp() {
    let mut app = app().await;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef")
    );
    let body = br#"{"type":"call.note","data":{}}"#;
    let now = chrono::Utc::now().timestamp();
    let req = sign_standard(&secret, "msg_1", now, body).expect("sign");
    assert_eq!(app.post("generic", &req.headers, body).await.0, 200);
    // Same webhook-id again: duplicate.
    let (s, v) = app.post("generic", &req.headers, body).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("duplicate")));
    // Timestamp outside tolerance (validly signed).
    let old = now - 3600;
    let req_old = sign_standard(&secret, "msg_2", old, body).expect("sign");
    let (s, v) = app.post("generic", &req_old.headers, body).await;
    assert_eq!(s, 401);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("tolerance")),
        "{v}"
    );
    assert_eq!(app.inbox().await, 1);
}

#[tokio::test]
async fn unknown_disabled_too_large() {
    let mut app = app().await;
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let (s, v) = app
        .post("nope", &yeastar_headers("old-secret", &body), &body)
        .await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
    let mut c = app.db.conn().await.expect("conn");
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE sources SET enabled = false WHERE name = 'pbx'"),
        &mut c,
    )
    .await
    .expect("disable");
    assert_eq!(
        app.post("pbx", &yeastar_headers("old-secret", &body), &body)
            .await
            .0,
        404
    );
    // Over the configured 64 KiB limit.
    let big = vec![b' '; 64 * 1024 + 1];
    let (s, v) = app.post("dp-open", &[], &big).await;
    assert_eq!((s, v["error"].as_str()), (413, Some("too_large")), "{v}");
    assert_eq!(app.inbox().await, 0);
    // Just under the limit is accepted.
    let mut ok = b"{}".to_vec();
    ok.resize(64 * 1024, b' ');
    let fresh = &mut Client::new(app.authority.clone(), Duration::from_secs(10));
    let r = fresh
        .request("POST", "/webhooks/dp-open", &[], &ok)
        .await
        .expect("post");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(app.inbox().await, 1);
}

#[tokio::test]
async fn database_unreachable_answers_503() {
    // Nothing listens on port 1: every connection attempt fails.
    let pool = store::pool(
        "postgres://postgres@127.0.0.1:1/none",
        2,
        Duration::from_millis(500),
    )
    .expect("pool");
    let (public, admin) = start_server(pool, IngestConfig::default());
    let mut client = Client::new(public, Duration::from_secs(10));
    let mut admin = Client::new(admin, Duration::from_secs(10));
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let p = post_webhook(&mut client, "pbx", &sign_yeastar("s", &body))
        .await
        .expect("request");
    assert_eq!(p.status, 503, "{}", p.text);
    assert_eq!(p.json["error"], "unavailable");
    let r = admin
        .request("GET", "/readyz", &[], b"")
        .await
        .expect("readyz");
    assert_eq!(r.status, 503);
    let r = client
        .request("GET", "/healthz", &[], b"")
        .await
        .expect("healthz");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_source_and_outcome() {
    let mut app = app().await;
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let hd = yeastar_headers("old-secret", &body);
    assert_eq!(app.post("pbx", &hd, &body).await.0, 200);
    assert_eq!(app.post("pbx", &hd, &body).await.0, 200);
    assert_eq!(app.post("pbx", &[], &body).await.0, 401);
    assert_eq!(app.post("random-name", &hd, &body).await.0, 404);
    let r = app
        .admin
        .request("GET", "/metrics", &[], b"")
        .await
        .expect("metrics");
    assert_eq!(r.status, 200);
    let page = r.text();
    let line = |needle: &str| -> f64 {
        page.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {needle} in:\n{page}"))
    };
    // Counters are per process; tests in the same process add up, so at least.
    assert!(line(r#"switchboard_ingest_requests_total{source="pbx",outcome="accepted"}"#) >= 1.0);
    assert!(line(r#"switchboard_ingest_requests_total{source="pbx",outcome="duplicate"}"#) >= 1.0);
    assert!(
        line(r#"switchboard_ingest_requests_total{source="pbx",outcome="unauthorized"}"#) >= 1.0
    );
    assert!(
        line(r#"switchboard_ingest_requests_total{source="unknown",outcome="not_found"}"#) >= 1.0
    );
    assert!(
        !page.contains("random-name"),
        "unknown names never become labels"
    );
    assert!(page.contains("switchboard_ingest_request_duration_seconds_bucket"));
}

pub(crate) async fn metrics_page(c: &mut Client) -> String {
    c.request("GET", "/metrics", &[], b"")
        .await
        .expect("metrics")
        .text()
}

fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn concurrent_requests_share_insert_transactions() {
    let db = TestDb::new().await.expect("db");
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    let mut app = start(
        db,
        IngestConfig {
            group_commit_in_flight: 1,
            group_commit_linger: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .await;
    let before = metrics_page(&mut app.admin).await;
    let n = 60;
    let mut tasks = Vec::new();
    for i in 0..n {
        let authority = app.authority.clone();
        tasks.push(tokio::spawn(async move {
            let body = traffic::scenario::yeastar_snapshot(
                30011,
                &format!("gc.{i}"),
                &[traffic::scenario::Member::Ext("2001", "RING")],
            );
            let mut c = Client::new(authority, Duration::from_secs(10));
            let p = post_webhook(&mut c, "pbx", &sign_yeastar("s", &body))
                .await
                .expect("post");
            (p.status, p.id())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, id) = t.await.expect("task");
        assert_eq!(status, 200);
        ids.insert(id.expect("id"));
    }
    assert_eq!(ids.len(), n, "every request got its own row");
    assert_eq!(app.inbox().await, n as i64);
    let after = metrics_page(&mut app.admin).await;
    let txs = metric(&after, "switchboard_ingest_group_commit_size_count")
        - metric(&before, "switchboard_ingest_group_commit_size_count");
    let rows = metric(&after, "switchboard_ingest_group_commit_size_sum")
        - metric(&before, "switchboard_ingest_group_commit_size_sum");
    assert_eq!(rows, n as f64);
    assert!(
        txs < n as f64 / 2.0,
        "{n} rows took {txs} transactions: not grouped"
    );
}

/// Deduplication spans the day boundary: the inbox is partitioned by the
/// UTC day of receipt and its unique key is per day, so ingest also looks
/// at the previous day. A retry of an event stored yesterday is a
/// duplicate; one stored three days ago (beyond the documented 24-48 h
/// horizon) is stored again.
#[tokio::test]
async fn a_retry_across_midnight_is_still_a_duplicate() {
    let mut app = app().await;
    let claims = fixture("dialpad/call-ringing.json");
    let jwt = sign_dialpad(Some("dp-secret"), &claims);
    let (s, v1) = app.post("dp", &jwt.headers, &jwt.body).await;
    assert_eq!((s, v1["status"].as_str()), (200, Some("accepted")), "{v1}");
    // As if it had been received yesterday (yesterday's partition exists).
    app.db.age_events("true", 1, true).await.expect("age");
    assert_eq!(
        app.db
            .count_where(
                Counter::Events,
                "day = (now() AT TIME ZONE 'UTC')::date - 1"
            )
            .await
            .expect("n"),
        1
    );
    let (s, v2) = app.post("dp", &jwt.headers, &jwt.body).await;
    assert_eq!((s, v2["status"].as_str()), (200, Some("duplicate")), "{v2}");
    assert_eq!(v2["id"], v1["id"]);
    assert_eq!(app.inbox().await, 1);
    // Three days ago: outside the horizon, a new event.
    app.db.age_events("true", 2, true).await.expect("age");
    let (s, v3) = app.post("dp", &jwt.headers, &jwt.body).await;
    assert_eq!((s, v3["status"].as_str()), (200, Some("accepted")), "{v3}");
    assert_ne!(v3["id"], v1["id"]);
    assert_eq!(app.inbox().await, 2);
    // Each stored event has its queue row; nothing else was written.
    assert_eq!(app.db.counts().await.expect("counts").queued, 2);
}

/// The request headers kept with the body are stored as one JSON object,
/// values escaped (a quote and a backslash in a header), the peer's
/// address beside them, and nothing else.
#[tokio::test]
async fn kept_headers_are_stored_as_a_json_object() {
    let mut app = app().await;
    let body = fixture("yeastar/30011-inbound-ringing.json");
    let mut headers = yeastar_headers("old-secret", &body);
    headers.extend(h(&[
        ("User-Agent", r#"PBX "quoted" \ agent"#),
        ("X-Request-Id", "r-1"),
        ("X-Other", "not kept"),
    ]));
    let (status, v) = app.post("pbx", &headers, &body).await;
    assert_eq!(status, 200, "{v}");
    let kept = app
        .db
        .count(
            r#"SELECT count(*) AS n FROM events
                WHERE headers @> '{"user-agent": "PBX \"quoted\" \\ agent", "x-request-id": "r-1",
                                   "remote-addr": "127.0.0.1"}'
                  AND NOT headers ? 'x-other' AND NOT headers ? 'x-signature'"#,
        )
        .await
        .expect("count");
    assert_eq!(kept, 1, "one row with the kept headers");
}
