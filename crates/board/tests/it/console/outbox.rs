//! The console's Out over its API, with the real `worker deliver` and a
//! receiver on loopback: deliveries listed (attempts, status, latency,
//! excerpt), given-up ones recovered once the receiver is back, one event
//! resent; each action audited.

use serde_json::json;
use testkit::wait_until;

use super::support::{audit, console_stack, get, given_up, post, Receiver};
use crate::helpers::{login, OPERATOR, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_listed_recovered_and_resent() -> anyhow::Result<()> {
    let s = console_stack().await?;
    let op = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let rx = Receiver::start().await;
    let since = chrono::Utc::now().to_rfc3339();
    given_up(&s, &rx, "out-1").await?;
    let failed = given_up(&s, &rx, "out-2").await?;
    assert!(failed >= 2, "{failed}");

    let (status, list) = get(&s, "/api/console/endpoints", &op).await;
    assert_eq!(status, 200, "{list}");
    let crm = &list[0];
    assert_eq!(
        (&crm["name"], &crm["failed"]),
        (&json!("crm"), &json!(failed)),
        "{list}"
    );
    assert!(!list.to_string().contains("whsec_"), "no secret: {list}");
    let (status, d) = get(
        &s,
        "/api/console/endpoints/crm/deliveries?state=failed",
        &op,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let rows = d["deliveries"].as_array().expect("deliveries").clone();
    assert_eq!(rows.len() as i64, failed);
    let first = &rows[0];
    assert_eq!(first["state"], "failed");
    assert_eq!(first["last_status"], 500);
    assert_eq!(first["response_excerpt"], "crm is down");
    assert!(first["attempts"].as_i64().unwrap_or(0) >= 1, "{first}");
    assert!(first["last_latency_ms"].is_i64(), "{first}");
    // Keyset pages: one at a time, newest first.
    let (_, page) = get(&s, "/api/console/endpoints/crm/deliveries?limit=1", &op).await;
    assert_eq!(page["deliveries"][0]["id"], first["id"], "{page}");
    assert_eq!(page["next"], first["id"], "{page}");
    let (_, page) = get(
        &s,
        &format!(
            "/api/console/endpoints/crm/deliveries?limit=1&before={}",
            first["id"]
        ),
        &op,
    )
    .await;
    assert_eq!(page["deliveries"][0]["id"], rows[1]["id"], "{page}");
    let (_, d) = get(
        &s,
        "/api/console/endpoints/crm/deliveries?state=delivered",
        &op,
    )
    .await;
    assert_eq!(d["deliveries"], json!([]));

    // Recover: the receiver is back; every given-up delivery is delivered.
    rx.up();
    let (status, body) = post(
        &s,
        "/api/console/endpoints/crm/recover",
        &op,
        Some(json!({ "since": since })),
    )
    .await;
    assert_eq!(
        (status, &body["recovered"]),
        (200, &json!(failed)),
        "{body}"
    );
    wait_until(WAIT, "recovered deliveries delivered", || async {
        Ok(s.db
            .count("SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'delivered'")
            .await?
            == failed)
    })
    .await?;
    let (_, d) = get(&s, "/api/console/endpoints/crm/deliveries", &op).await;
    assert_eq!(d["deliveries"][0]["last_status"], 200, "{d}");
    assert_eq!(d["deliveries"][0]["response_excerpt"], "received", "{d}");

    // Resend one delivered event; unknown ones are 404.
    let event_id = d["deliveries"][0]["event_id"]
        .as_str()
        .expect("id")
        .to_string();
    let attempts = d["deliveries"][0]["attempts"].as_i64().unwrap_or(0);
    let (status, body) = post(
        &s,
        "/api/console/endpoints/crm/resend",
        &op,
        Some(json!({ "event_id": event_id })),
    )
    .await;
    assert_eq!((status, &body["resent"]), (200, &json!(1)), "{body}");
    let q = format!(
        "SELECT count(*) AS n FROM webhook_deliveries d JOIN outbox o ON o.seq = d.event_seq
          WHERE o.event_id = '{event_id}' AND d.state = 'delivered' AND d.attempts > {attempts}"
    );
    wait_until(WAIT, "the resent event delivered again", || async {
        Ok(s.db.count(&q).await? == 1)
    })
    .await?;
    for (path, body) in [
        (
            "/api/console/endpoints/crm/resend",
            json!({"event_id": "evt_0123456789abcdef0123456789abcdef"}),
        ),
        (
            "/api/console/endpoints/nope/resend",
            json!({ "event_id": event_id }),
        ),
        (
            "/api/console/endpoints/nope/recover",
            json!({ "since": since }),
        ),
    ] {
        let (status, answer) = post(&s, path, &op, Some(body)).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    let got = audit(&s).await;
    assert_eq!(
        got.iter()
            .map(|r| (r.0.as_str(), r.1.as_str(), r.3))
            .collect::<Vec<_>>(),
        vec![("olivia", "resend", 1), ("olivia", "recover", failed)],
        "{got:?}"
    );
    assert_eq!(got[0].2, format!("crm {event_id}"));
    Ok(())
}
