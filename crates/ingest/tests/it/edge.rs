//! The public edge against a stranger: what a hostile request costs, what it
//! is answered, and that it changes nothing. Each test reproduces a finding
//! of the review that failed before its fix.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ingest::IngestConfig;
use testkit::{fixture, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{app, metrics_page, start, yeastar_headers};

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
