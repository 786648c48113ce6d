//! The call centre over the JSON API, fed by signed Yeastar webhooks
//! through the real ingest and worker: `/api/queues`, `/api/agents`,
//! `/api/missed-calls` and marking one done (operators, same origin,
//! audited), `/api/calls` with the history filters, its pages and its CSV,
//! and every bad parameter refused with 400 before any query.

use serde_json::{json, Value};
use testkit::Stack;

use crate::cc::{self, caller, get, json, play, token, yeastar, AGENTS, QUEUE};
use crate::control::SUPERVISOR;
use crate::helpers::{http, login, stack, OPERATOR, VIEWER};

/// A stack after a call-centre morning: a queue call answered by 1001
/// (caller 0), one abandoned (caller 1), agent 1001 paused for a meeting,
/// a direct call to 1001 missed (caller 2). Returns it and a token's
/// `Authorization` value.
async fn morning() -> anyhow::Result<(Stack, String)> {
    let s = stack(&[]).await?;
    let bearer = format!("Bearer {}", token(&s, "wallboard").await?);
    play(&s, &yeastar("queue-answered", 0, 1), None).await?;
    play(&s, &yeastar("queue-abandoned", 1, 2), None).await?;
    play(&s, &yeastar("agent-day", 0, 3), None).await?;
    play(&s, &yeastar("missed", 2, 4), None).await?;
    Ok((s, bearer))
}

fn numbers(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|m| m["number"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `POST /api/missed-calls/done` with `body`, from `origin` with `cookie`.
async fn mark_done(s: &Stack, cookie: Option<&str>, origin: &str, body: &str) -> (u16, Value) {
    let mut r = http()
        .post(format!("{}/api/missed-calls/done", s.board().url()))
        .header("Origin", origin)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    let r = r.send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn queues_agents_and_missed_calls_read_with_a_token() -> anyhow::Result<()> {
    let (s, bearer) = morning().await?;
    let q = json(&s, "/api/queues", &bearer).await;
    let queue = q["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|x| x["queue"] == QUEUE)
        .cloned()
        .expect("the queue");
    assert_eq!(queue["source"], "pbx");
    assert_eq!(
        (
            &queue["waiting"],
            &queue["longest_wait_seconds"],
            &queue["answered_today"],
            &queue["abandoned_today"],
        ),
        (&json!(0), &json!(0), &json!(1), &json!(1)),
        "{queue}"
    );
    assert_eq!(q["waiting"], json!([]));
    let agents = json(&s, "/api/agents?source=pbx", &bearer).await;
    let a = agents
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["agent"] == AGENTS[0])
        .cloned()
        .expect("agent 1001");
    assert_eq!(
        (&a["state"], &a["reason"]),
        (&json!("paused"), &json!("Meeting"))
    );
    let missed = json(&s, "/api/missed-calls", &bearer).await;
    let mut got = numbers(&missed);
    got.sort();
    assert_eq!(got, vec![caller(1).to_string(), caller(2).to_string()]);
    assert_eq!(
        json(&s, "/api/missed-calls?limit=1", &bearer)
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        json(&s, "/api/queues?source=other", &bearer).await["queues"],
        json!([])
    );

    // Nobody, a wrong token, bad parameters: refused, nothing read.
    for path in ["/api/queues", "/api/agents", "/api/missed-calls"] {
        let r = http()
            .get(format!("{}{path}", s.board().url()))
            .send()
            .await?;
        assert_eq!(r.status(), 401, "{path}");
        for bad in ["?source=PBX", "?source=a%00b", "?source=pbx&source=pbx"] {
            let (status, body) = get(&s, &format!("{path}{bad}"), &bearer).await;
            assert_eq!(status, 400, "{path}{bad}: {body}");
        }
    }
    let (status, _) = get(&s, "/api/missed-calls?limit=x", &bearer).await;
    assert_eq!(status, 400);

    // The call back of caller 1 takes it off the list by itself.
    play(&s, &yeastar("callback", 1, 5), None).await?;
    testkit::wait_until(cc_wait(), "caller 1 off the list", || async {
        Ok(
            !numbers(&json(&s, "/api/missed-calls", &bearer).await)
                .contains(&caller(1).to_string()),
        )
    })
    .await?;
    Ok(())
}

fn cc_wait() -> std::time::Duration {
    crate::helpers::WAIT
}

#[tokio::test]
async fn an_operator_marks_a_missed_call_done_and_it_is_audited() -> anyhow::Result<()> {
    let (s, bearer) = morning().await?;
    let url = s.board().url();
    let body = json!({"source": "pbx", "number": caller(2)}).to_string();
    let op = login(&url, OPERATOR.0, OPERATOR.1).await;
    let viewer = login(&url, VIEWER.0, VIEWER.1).await;

    // Refused: another site, nobody, a token (tokens only read), a viewer,
    // a bad body or value; nothing changes.
    assert_eq!(
        mark_done(&s, Some(&op), "https://evil.example", &body)
            .await
            .0,
        403
    );
    assert_eq!(mark_done(&s, None, &url, &body).await.0, 401);
    let r = http()
        .post(format!("{url}/api/missed-calls/done"))
        .header("Origin", url.as_str())
        .header("Authorization", bearer.as_str())
        .body(body.clone())
        .send()
        .await?;
    assert_eq!(r.status(), 401, "a token cannot act");
    let (status, v) = mark_done(&s, Some(&viewer), &url, &body).await;
    assert_eq!(
        (status, &v["error"]),
        (403, &json!("only operators may mark missed calls done"))
    );
    for bad in [
        "not json".to_string(),
        json!({"source": "pbx"}).to_string(),
        json!({"source": "PBX", "number": caller(2)}).to_string(),
        json!({"source": "pbx", "number": "+1\u{0}"}).to_string(),
        json!({"source": "pbx", "number": "1".repeat(65)}).to_string(),
        json!({"source": "pbx", "number": caller(2), "through": "yesterday"}).to_string(),
    ] {
        assert_eq!(mark_done(&s, Some(&op), &url, &bad).await.0, 400, "{bad}");
    }
    assert_eq!(cc::audited(&s).await, 0);
    assert!(numbers(&json(&s, "/api/missed-calls", &bearer).await).contains(&caller(2).to_string()));

    let (status, v) = mark_done(&s, Some(&op), &url, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"], "marked done");
    assert_eq!(
        (&v["done"]["cleared"], &v["done"]["left"]),
        (&json!(1), &json!(0))
    );
    assert!(
        !numbers(&json(&s, "/api/missed-calls", &bearer).await).contains(&caller(2).to_string())
    );
    assert_eq!(cc::audited(&s).await, 1);
    let audit = testkit::worker_ok(&s.db.url, &["audit", "--missed"]).await?;
    assert!(
        audit.contains(OPERATOR.0) && audit.contains(caller(2)),
        "{audit}"
    );
    // Not (or no longer) on the list.
    let (status, v) = mark_done(&s, Some(&op), &url, &body).await;
    assert_eq!(status, 404, "{v}");

    // A supervisor may do whatever an operator may: mark the other one done.
    testkit::worker_ok_stdin(
        &s.db.url,
        &["user", "add", SUPERVISOR.0, "--role", "supervisor"],
        &format!("{}\n", SUPERVISOR.1),
    )
    .await?;
    let sup = login(&url, SUPERVISOR.0, SUPERVISOR.1).await;
    let other = json!({"source": "pbx", "number": caller(1)}).to_string();
    let (status, v) = mark_done(&s, Some(&sup), &url, &other).await;
    assert_eq!(status, 200, "a supervisor marks done: {v}");
    assert_eq!(cc::audited(&s).await, 2);
    Ok(())
}

#[tokio::test]
async fn the_history_searches_pages_and_exports_csv() -> anyhow::Result<()> {
    let (s, bearer) = morning().await?;
    // Without history parameters: the recent calls, as before.
    assert!(json(&s, "/api/calls", &bearer).await.is_array());

    let page = json(&s, &format!("/api/calls?queue={QUEUE}"), &bearer).await;
    assert_eq!(page["calls"].as_array().map(Vec::len), Some(2), "{page}");
    assert_eq!(page["next"], Value::Null);
    let abandoned = json(&s, "/api/calls?disposition=abandoned", &bearer).await;
    let calls = abandoned["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{abandoned}");
    assert_eq!(calls[0]["from_number"], caller(1));
    assert_eq!(calls[0]["queues"], json!([QUEUE]));
    let by_number = json(
        &s,
        &format!("/api/calls?number={}", caller(2).replace('+', "%2B")),
        &bearer,
    )
    .await;
    assert_eq!(
        by_number["calls"].as_array().map(Vec::len),
        Some(1),
        "{by_number}"
    );
    let by_ext = json(&s, &format!("/api/calls?extension={}", AGENTS[0]), &bearer).await;
    assert_eq!(
        by_ext["calls"].as_array().map(Vec::len),
        Some(3),
        "{by_ext}"
    );
    let future = json(&s, "/api/calls?since=2100-01-01T00:00:00Z", &bearer).await;
    assert_eq!(future["calls"], json!([]));

    // Keyset pages: one call at a time, each once, newest first.
    let mut seen = Vec::new();
    let mut path = format!("/api/calls?extension={}&limit=1", AGENTS[0]);
    loop {
        let p = json(&s, &path, &bearer).await;
        for c in p["calls"].as_array().expect("calls") {
            seen.push(c["call_id"].as_str().unwrap_or_default().to_string());
        }
        match p["next"].as_str() {
            Some(next) => path = format!("/api/calls?extension={}&limit=1&after={next}", AGENTS[0]),
            None => break,
        }
    }
    let all: Vec<String> = by_ext["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["call_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(seen, all);

    // CSV: a header and one line per call.
    let r = http()
        .get(format!(
            "{}/api/calls?queue={QUEUE}&format=csv",
            s.board().url()
        ))
        .header("Authorization", bearer.as_str())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(kind.starts_with("text/csv"), "{kind}");
    let text = r.text().await?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("start,source,call_id"), "{}", lines[0]);
    assert!(
        text.contains(caller(1)) && text.contains(caller(0)),
        "{text}"
    );

    for bad in [
        "disposition=lost",
        "since=yesterday",
        "until=2026-12-07T09:00:00Z%00",
        "number=%2B1%00",
        "extension=a%20b",
        "after=x.1",
        "queue=6405&limit=0",
        "queue=6405&limit=1001",
        "format=xml",
        "active=true&queue=6405",
        "queue=6405&queue=6406",
        &format!("queue={}", "9".repeat(65)),
        &format!("number={}", "9".repeat(65)),
    ] {
        let (status, body) = get(&s, &format!("/api/calls?{bad}"), &bearer).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("\"error\""), "{bad}: {body}");
    }
    let r = http()
        .get(format!("{}/api/calls?queue={QUEUE}", s.board().url()))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    Ok(())
}
