//! The console's In over its API, fed by signed webhooks through the real
//! ingest: the inbox searched, one event read without secrets, a dead
//! event replayed and then applied by the worker, every dead event of a
//! source replayed; each action audited.

use serde_json::{json, Value};
use testkit::Counter;

use super::support::{audit, console_stack, dead_event, get, post, ringing, row, SUPERVISOR};
use crate::helpers::{login, OPERATOR, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_event_is_found_read_without_secrets_replayed_and_applied() -> anyhow::Result<()> {
    let s = console_stack().await?;
    let op = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let applied = s.deliver("pbx", &ringing("ok-1", "2001")).await?;
    let dead = dead_event(&s, "dead-1").await?;

    // Searches: by outcome, call id, source, type, time; keyset pages.
    let ids = |v: &Value| -> Vec<i64> {
        v["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let (status, v) = get(&s, "/api/console/events?outcome=dead", &op).await;
    assert_eq!((status, ids(&v)), (200, vec![dead]), "{v}");
    assert_eq!(v["events"][0]["attempts"], 1);
    assert!(
        v["events"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("refused for maintenance"),
        "{v}"
    );
    let (_, v) = get(&s, "/api/console/events?outcome=applied", &op).await;
    assert_eq!(ids(&v), vec![applied]);
    let (_, v) = get(&s, "/api/console/events?call_id=dead-1", &op).await;
    assert_eq!(ids(&v), vec![dead]);
    let (_, v) = get(&s, "/api/console/events?source=pbx", &op).await;
    assert_eq!(ids(&v), vec![dead, applied], "newest first");
    // An event that failed while applied keeps no type (the worker records
    // none for it); the applied one has its type.
    let (_, v) = get(&s, "/api/console/events?event_type=call.status", &op).await;
    assert_eq!(ids(&v), vec![applied]);
    let (_, v) = get(&s, "/api/console/events?limit=1", &op).await;
    assert_eq!((ids(&v), &v["next"]), (vec![dead], &json!(dead)));
    let (_, v) = get(
        &s,
        &format!("/api/console/events?limit=1&before={dead}"),
        &op,
    )
    .await;
    assert_eq!(ids(&v), vec![applied]);
    let (_, v) = get(&s, "/api/console/events?until=2000-01-01T00:00:00Z", &op).await;
    assert_eq!(ids(&v), Vec::<i64>::new());
    let (_, v) = get(
        &s,
        "/api/console/events?since=2000-01-01T00:00:00Z&outcome=pending",
        &op,
    )
    .await;
    assert_eq!(ids(&v), Vec::<i64>::new());

    // One event: pretty body, kept headers without secrets, its error.
    let (status, e) = get(&s, &format!("/api/console/events/{dead}"), &op).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        (&e["outcome"], &e["replayable"]),
        (&json!("dead"), &json!(true))
    );
    assert_eq!(e["body_format"], "json");
    assert!(
        e["body"]
            .as_str()
            .unwrap_or_default()
            .contains("\n  \"msg\": "),
        "{e}"
    );
    let headers = e["headers"].as_object().expect("headers");
    assert!(headers.contains_key("content-type"), "{e}");
    assert!(
        headers.keys().all(|k| !k.contains("signature")),
        "no signature header: {e}"
    );
    assert!(!e.to_string().contains(crate::helpers::PBX_SECRET));
    let (status, _) = get(&s, "/api/console/events/987654321", &op).await;
    assert_eq!(status, 404);

    // Replaying an applied event is refused; the dead one is re-queued
    // and the worker applies it (the refusal was lifted).
    let (status, body) = post(
        &s,
        &format!("/api/console/events/{applied}/replay"),
        &op,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(&s, &format!("/api/console/events/{dead}/replay"), &op, None).await;
    assert_eq!((status, &body["replayed"]), (200, &json!(1)), "{body}");
    s.wait_processed(dead).await?;
    assert_eq!(
        s.db.count_where(Counter::Applied, &format!("id = {dead}"))
            .await?,
        1
    );
    assert_eq!(
        s.db.count("SELECT count(*) AS n FROM calls WHERE call_id = 'dead-1'")
            .await?,
        1,
        "the replayed event made its call"
    );
    let (status, _) = post(&s, &format!("/api/console/events/{dead}/replay"), &op, None).await;
    assert_eq!(status, 409, "no longer dead");
    assert_eq!(
        audit(&s).await,
        vec![row(OPERATOR.0, "replay", &dead.to_string(), 1)]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dead_event_of_a_source_is_replayed() -> anyhow::Result<()> {
    let s = console_stack().await?;
    let sup = login(&s.board().url(), SUPERVISOR.0, SUPERVISOR.1).await;
    // Two events die under the same refusal.
    s.db.exec(
        "CREATE FUNCTION console_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$",
    )
    .await?;
    s.db.exec(
        "CREATE TRIGGER console_test_refuse BEFORE INSERT OR UPDATE ON calls
         FOR EACH ROW EXECUTE FUNCTION console_test_refuse()",
    )
    .await?;
    for call in ["d-1", "d-2"] {
        s.send("pbx", &ringing(call, "2001")).await?;
    }
    s.db.wait_count(WAIT, Counter::Dead, "true", 2).await?;
    s.db.exec("DROP TRIGGER console_test_refuse ON calls")
        .await?;
    let (status, body) = post(
        &s,
        "/api/console/replay-dead",
        &sup,
        Some(json!({"source": "pbx"})),
    )
    .await;
    assert_eq!((status, &body["replayed"]), (200, &json!(2)), "{body}");
    s.db.wait_count(WAIT, Counter::Applied, "true", 2).await?;
    assert_eq!(s.db.count_of(Counter::Dead).await?, 0);
    assert_eq!(
        audit(&s).await,
        vec![row(SUPERVISOR.0, "replay_dead", "pbx", 2)]
    );
    Ok(())
}
