//! `GET /api/stream`: the normalized events over SSE for API tokens with
//! the stream scope, resumed from `Last-Event-ID`.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{http, stack};

/// One SSE message: its id, event name and data.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub event: String,
    pub data: Value,
}

/// Reads messages from `resp` until `n` arrived (bounded by the wait).
pub async fn read(resp: &mut reqwest::Response, n: usize) -> Vec<Message> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("messages within 30 s")
            .expect("chunk")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, None, None);
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                out.push(Message { id, event, data });
            }
        }
    }
    out
}

/// A Yeastar call's webhooks (a traffic scenario), number `n`.
pub fn call(n: u64) -> Vec<Vec<u8>> {
    testkit::plan::build(0, 0, n)
        .steps
        .into_iter()
        .map(|s| s.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_serves_events_to_stream_tokens_and_resumes_from_last_event_id() {
    let s = stack(&[]).await.expect("stack");
    let url = format!("{}/api/stream", s.board().url());
    let stream_token = testkit::worker_ok(&s.db.url, &["token", "add", "feed", "--stream"])
        .await
        .expect("token")
        .trim()
        .to_string();
    let plain = testkit::worker_ok(&s.db.url, &["token", "add", "crm"])
        .await
        .expect("token")
        .trim()
        .to_string();
    // No token: 401; a token without the scope: 403.
    let r = http().get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 401);
    let r = http()
        .get(&url)
        .bearer_auth(&plain)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);

    for body in call(1) {
        s.deliver("pbx", &body).await.expect("deliver");
    }
    let total =
        s.db.count("SELECT count(*) AS n FROM outbox")
            .await
            .expect("count") as usize;
    assert!(total >= 3, "{total} events");
    let client = reqwest::Client::new();
    let mut r = client
        .get(&url)
        .bearer_auth(&stream_token)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let first = read(&mut r, total).await;
    drop(r);
    assert_eq!(first[0].event, "call.ringing");
    for m in &first {
        assert_eq!(m.data["type"], Value::String(m.event.clone()));
        assert!(m.data["data"]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("evt_")));
    }
    // Resume after the second: the third comes first, then a new call's.
    let mut r = client
        .get(&url)
        .bearer_auth(&stream_token)
        .header("Last-Event-ID", &first[1].id)
        .send()
        .await
        .expect("GET");
    let resumed = read(&mut r, total - 2).await;
    let ids = |ms: &[Message]| {
        ms.iter()
            .map(|m| m.data["data"]["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&resumed), ids(&first[2..]));
    for body in call(2) {
        s.deliver("pbx", &body).await.expect("deliver");
    }
    let more = read(&mut r, 1).await;
    assert_eq!(more[0].event, "call.ringing");
    assert_ne!(
        more[0].data["data"]["call"]["call_id"],
        first[0].data["data"]["call"]["call_id"]
    );
    eprintln!("stream: {total} events, resumed after the second, then the next call's");
}
