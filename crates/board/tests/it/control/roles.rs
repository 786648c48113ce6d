//! Who may do what: viewers nothing, operators all but listening and agent
//! pause, supervisors everything; every refusal audited; the capabilities
//! the page reads say the same, with each reason.

use serde_json::{json, Value};

use super::{cookies, on_call, on_extension, yeastar_call, yeastar_stack};
use crate::actions::{audited, error_of};
use crate::helpers::http;

#[tokio::test]
async fn roles_refuse_what_they_may_not_do_and_every_refusal_is_audited() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, _, viewer) = cookies(&s).await;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001701.1", "2002", true).await?;
    let on_calls = [
        ("hangup", json!({"leg_id": leg_id})),
        ("transfer", json!({"leg_id": leg_id, "to": "2003"})),
        ("park", json!({"leg_id": leg_id})),
        ("hold", json!({"leg_id": leg_id})),
        ("unhold", json!({"leg_id": leg_id})),
        ("listen", json!({"leg_id": leg_id})),
    ];
    let on_exts = [
        ("presence", json!({"status": "away"})),
        ("pause", json!({"queue": "6400", "reason": "training"})),
        ("resume", json!({"queue": "6400"})),
    ];
    for (action, body) in &on_calls {
        let (status, b) = on_call(&s, &viewer, "pbx", &call_id, action, body.clone()).await;
        assert_eq!(status, 403, "{action}: {b}");
        assert!(error_of(&b).starts_with("only "), "{b}");
    }
    for (action, body) in &on_exts {
        let (status, b) = on_extension(&s, &viewer, "pbx", "2002", action, body.clone()).await;
        assert_eq!(status, 403, "{action}: {b}");
    }
    assert_eq!(audited(&s, "refused", "AND user_name = 'victor'").await, 9);
    // An operator: listen and agents are a supervisor's.
    for (action, body) in [&on_calls[5], &on_exts[1], &on_exts[2]] {
        let (status, b) = match *action {
            "listen" => on_call(&s, &op, "pbx", &call_id, action, body.clone()).await,
            _ => on_extension(&s, &op, "pbx", "2002", action, body.clone()).await,
        };
        assert_eq!(status, 403, "{action}: {b}");
    }
    assert_eq!(
        audited(
            &s,
            "refused",
            "AND user_name = 'olivia' AND action IN ('listen', 'pause', 'resume')"
        )
        .await,
        3
    );
    assert!(pbx.control_seen().is_empty(), "the PBX was never asked");
    assert_eq!(pbx.count(&pbx.hangup_calls), 0);

    // `worker user set-role` applies at the next request, same session.
    testkit::worker_ok(&s.db.url, &["user", "set-role", "olivia", "supervisor"]).await?;
    let (status, b) = on_call(
        &s,
        &op,
        "pbx",
        &call_id,
        "listen",
        json!({"leg_id": leg_id}),
    )
    .await;
    assert_eq!(status, 409, "past the role check: {b}");
    assert!(
        error_of(&b).starts_with("you have no extension to listen from"),
        "{b}"
    );
    testkit::worker_ok(&s.db.url, &["user", "set-role", "olivia", "operator"]).await?;

    // Bad bodies: 400, nothing audited.
    let before = audited(&s, "refused", "").await;
    for (action, body) in [
        ("transfer", json!({"leg_id": leg_id})),
        ("transfer", json!({"leg_id": leg_id, "to": "20\u{0}3"})),
        (
            "transfer",
            json!({"leg_id": leg_id, "to": "2003", "mode": "warm"}),
        ),
        ("listen", json!({"leg_id": leg_id, "mode": "spy"})),
        ("park", json!({})),
    ] {
        let (status, b) = on_call(&s, &op, "pbx", &call_id, action, body).await;
        assert_eq!(status, 400, "{action}: {b}");
    }
    for (action, body) in [
        ("presence", json!({"status": "gone fishing"})),
        ("pause", json!({"reason": "no queue"})),
        ("pause", json!({"queue": "6400", "reason": "x".repeat(101)})),
    ] {
        let (status, b) = on_extension(&s, &op, "pbx", "2002", action, body).await;
        assert_eq!(status, 400, "{action}: {b}");
    }
    let (status, _) = on_extension(
        &s,
        &op,
        "pbx",
        "20 02",
        "presence",
        json!({"status": "away"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(audited(&s, "refused", "").await, before);

    // `worker audit` shows the refusals with the action and its target.
    let out = testkit::worker_ok(&s.db.url, &["audit"]).await?;
    assert!(out.contains("pause queue 6400: training"), "{out}");
    assert!(out.contains("ext 2002"), "{out}");
    Ok(())
}

/// `GET /api/capabilities` with `cookie`: the source `source`'s actions.
pub(super) async fn capabilities(board: &str, cookie: &str, source: &str) -> Value {
    let v: Value = http()
        .get(format!("{board}/api/capabilities"))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("GET /api/capabilities")
        .json()
        .await
        .expect("JSON");
    v["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["source"] == source)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn capabilities_say_what_each_role_may_do_and_why_not() -> anyhow::Result<()> {
    let (s, _pbx) = yeastar_stack(&[]).await?;
    let (op, sup, viewer) = cookies(&s).await;
    let board = s.board().url();
    let v = capabilities(&board, &viewer, "pbx").await;
    assert_eq!(v["provider"], "yeastar");
    for (k, a) in v["actions"].as_object().expect("actions") {
        assert_eq!(a["available"], false, "{k}");
        assert!(
            a["reason"]
                .as_str()
                .unwrap_or_default()
                .starts_with("only "),
            "{k}"
        );
    }
    let v = capabilities(&board, &op, "pbx").await;
    for k in [
        "hangup",
        "transfer",
        "attended_transfer",
        "park",
        "hold",
        "presence",
    ] {
        assert_eq!(v["actions"][k]["available"], true, "{k}");
    }
    assert_eq!(
        v["actions"]["listen"]["reason"],
        "only supervisors may listen, whisper or barge in"
    );
    assert_eq!(v["actions"]["unhold"]["available"], false);
    let v = capabilities(&board, &sup, "pbx").await;
    for k in ["listen", "whisper", "barge", "pause"] {
        assert_eq!(v["actions"][k]["available"], true, "{k}");
    }
    assert_eq!(v["presences"].as_array().map(Vec::len), Some(6));
    // Without API settings a source is not listed at all.
    assert!(capabilities(&board, &sup, "nosuch").await.is_null());
    Ok(())
}
