//! Call control on a Yeastar PBX (the fake): each action's request as the
//! OpenAPI documents it, the card changed by the PBX's events only.

use serde_json::{json, Value};
use testkit::Counter;

use super::{
    card, cookies, on_call, on_extension, wait_card, yeastar_call, yeastar_stack, SUPERVISOR,
};
use crate::actions::{audited, error_of};
use crate::fake_control::{caller_channel, ext_channel};
use crate::helpers::WAIT;

/// What the page shows once the PBX accepted `what`.
fn requested(what: &str) -> String {
    format!("{what} requested; the card changes when the phone system reports it")
}

#[tokio::test]
async fn a_blind_transfer_moves_the_caller_when_the_pbx_reports_it() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, _, _) = cookies(&s).await;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001001.1", "2002", false).await?;
    let (status, body) = on_call(
        &s,
        &op,
        "pbx",
        &call_id,
        "transfer",
        json!({"leg_id": leg_id, "to": "2003"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], requested("transfer"));
    assert_eq!(
        pbx.control_seen(),
        vec![(
            "call/transfer".to_string(),
            json!({"type": "blind", "channel_id": caller_channel(&call_id), "number": "2003"})
        )],
        "the caller's channel moves"
    );
    // 30013: 2003 rings, 2002 is free; then 30011: 2003 answered.
    s.wait_extension("pbx", "2003", "incall").await?;
    s.wait_extension("pbx", "2002", "online").await?;
    let c = card(&s, &op, "pbx", "2003").await;
    assert_eq!(c["call"]["call_id"], call_id.as_str(), "{c}");
    assert_eq!(
        audited(
            &s,
            "ok",
            &format!("AND action = 'transfer' AND detail = 'to 2003' AND call_id = '{call_id}' AND channel_id = '{}'", caller_channel(&call_id))
        )
        .await,
        1
    );
    Ok(())
}

#[tokio::test]
async fn an_attended_transfer_consults_then_is_cancelled_or_completed() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, _, _) = cookies(&s).await;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001101.1", "2002", true).await?;
    let transfer = |body: Value| {
        let (s, op, call_id) = (&s, &op, &call_id);
        async move { on_call(s, op, "pbx", call_id, "transfer", body).await }
    };
    // Consult 2003, then cancel: 2003 rings, answers, is dropped.
    let (status, body) =
        transfer(json!({"leg_id": leg_id, "to": "2003", "mode": "attended"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], requested("attended transfer"));
    s.wait_extension("pbx", "2003", "incall").await?;
    let (status, body) = transfer(json!({"leg_id": leg_id, "mode": "cancel"})).await;
    assert_eq!(status, 200, "{body}");
    s.wait_extension("pbx", "2003", "online").await?;
    assert_eq!(card(&s, &op, "pbx", "2002").await["status"], "incall");

    // Consult again, then complete: the caller is joined to 2003.
    let (status, body) =
        transfer(json!({"leg_id": leg_id, "to": "2003", "mode": "attended"})).await;
    assert_eq!(status, 200, "{body}");
    s.wait_extension("pbx", "2003", "incall").await?;
    let (status, body) = transfer(json!({"leg_id": leg_id, "mode": "complete"})).await;
    assert_eq!(status, 200, "{body}");
    s.wait_extension("pbx", "2002", "online").await?;
    wait_card(&s, &op, "pbx", "2003", "2003 in the caller's call", |c| {
        c["call"]["call_id"] == call_id.as_str()
    })
    .await?;
    let seen = pbx.control_seen();
    let ops: Vec<Value> = seen
        .iter()
        .map(|(_, b)| b["attended_operate"].clone())
        .collect();
    assert_eq!(
        ops,
        vec![Value::Null, json!("abort"), Value::Null, json!("complete")]
    );
    assert_eq!(seen[1].1["channel_id"], ext_channel("2002", &call_id));
    for (action, n) in [
        ("attended_transfer", 2),
        ("transfer_cancel", 1),
        ("transfer_complete", 1),
    ] {
        assert_eq!(
            audited(&s, "ok", &format!("AND action = '{action}'")).await,
            n,
            "{action}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn park_shows_the_slot_and_hold_holds_and_unhold_is_unavailable() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, _, _) = cookies(&s).await;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001201.1", "2002", true).await?;

    let (status, body) = on_call(&s, &op, "pbx", &call_id, "hold", json!({"leg_id": leg_id})).await;
    assert_eq!(status, 200, "{body}");
    wait_card(&s, &op, "pbx", "2002", "2002 on hold", |c| {
        c["call"]["on_hold"] == true
    })
    .await?;

    let (status, body) = on_call(
        &s,
        &op,
        "pbx",
        &call_id,
        "unhold",
        json!({"leg_id": leg_id}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        error_of(&body),
        "Yeastar's API documents no unhold: the phone that held the call resumes it"
    );
    assert_eq!(audited(&s, "unavailable", "AND action = 'unhold'").await, 1);

    let (status, body) = on_call(&s, &op, "pbx", &call_id, "park", json!({"leg_id": leg_id})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        format!(
            "{}: parked in slot 6001; dial 6001 from any phone to pick it up",
            requested("park")
        )
    );
    // The parked state: the extension is free, the caller waits.
    s.wait_extension("pbx", "2002", "online").await?;
    s.db.wait_count(
        WAIT,
        Counter::Calls,
        &format!("call_id = '{call_id}' AND status <> 'ended'"),
        1,
    )
    .await?;
    let paths: Vec<String> = pbx.control_seen().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["call/hold", "call/park"], "unhold never sent");
    assert_eq!(
        pbx.control_seen()[1].1["channel_id"],
        caller_channel(&call_id)
    );
    Ok(())
}

#[tokio::test]
async fn a_supervisor_listens_whispers_and_barges_from_their_extension() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, sup, _) = cookies(&s).await;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001301.1", "2002", true).await?;
    let body = |mode: &str| json!({"leg_id": leg_id, "mode": mode});

    let (status, b) = on_call(&s, &op, "pbx", &call_id, "listen", body("listen")).await;
    assert_eq!(status, 403, "{b}");
    assert_eq!(
        error_of(&b),
        "only supervisors may listen, whisper or barge in"
    );
    let (status, b) = on_call(&s, &sup, "pbx", &call_id, "listen", body("listen")).await;
    assert_eq!(status, 409, "{b}");
    assert!(
        error_of(&b).contains("worker user set-extension sam"),
        "{b}"
    );

    testkit::worker_ok(&s.db.url, &["user", "set-extension", SUPERVISOR.0, "2009"])
        .await
        .expect("set-extension");
    for mode in ["listen", "whisper", "barge"] {
        let (status, b) = on_call(&s, &sup, "pbx", &call_id, "listen", body(mode)).await;
        assert_eq!(status, 200, "{mode}: {b}");
        assert_eq!(b["result"], requested(mode));
    }
    // The PBX's 30011 with the supervisor's phone in the call.
    s.wait_extension("pbx", "2009", "incall").await?;
    let seen = pbx.control_seen();
    assert_eq!(seen.len(), 3);
    for (i, mode) in ["listen", "whisper", "barge"].iter().enumerate() {
        assert_eq!(
            seen[i],
            (
                "call/listen".to_string(),
                json!({"channel_id": ext_channel("2002", &call_id), "monitor": "2009", "type": mode})
            )
        );
    }
    assert_eq!(
        audited(
            &s,
            "refused",
            "AND user_name = 'olivia' AND action = 'listen'"
        )
        .await,
        1
    );
    assert_eq!(
        audited(&s, "refused", "AND user_name = 'sam' AND action = 'listen'").await,
        1
    );
    assert_eq!(
        audited(
            &s,
            "ok",
            "AND user_name = 'sam' AND action IN ('listen', 'whisper', 'barge')"
        )
        .await,
        3
    );
    Ok(())
}

#[tokio::test]
async fn presence_and_agent_pause_change_the_cards_through_30009_and_30029() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, sup, _) = cookies(&s).await;
    // 2003 becomes known to the board.
    yeastar_call(&s, &pbx, "1790001401.1", "2003", false).await?;

    let (status, b) = on_extension(
        &s,
        &op,
        "pbx",
        "2003",
        "presence",
        json!({"status": "lunch"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["result"], requested("presence change"));
    wait_card(&s, &op, "pbx", "2003", "2003 at lunch", |c| {
        c["presence"] == "lunch"
    })
    .await?;
    let (status, b) =
        on_extension(&s, &op, "pbx", "2003", "presence", json!({"status": "dnd"})).await;
    assert_eq!(status, 200, "{b}");
    wait_card(&s, &op, "pbx", "2003", "2003 dnd", |c| {
        c["presence"] == "dnd"
    })
    .await?;

    let (status, b) = on_extension(
        &s,
        &op,
        "pbx",
        "2003",
        "pause",
        json!({"queue": "6400", "reason": "lunch break"}),
    )
    .await;
    assert_eq!(status, 403, "{b}");
    assert_eq!(error_of(&b), "only supervisors may pause or resume agents");
    let (status, b) = on_extension(
        &s,
        &sup,
        "pbx",
        "2003",
        "pause",
        json!({"queue": "6400", "reason": "lunch break"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let agent = |status: &'static str, reason: &'static str| {
        let s = &s;
        async move {
            testkit::wait_until(WAIT, "the agent's status", || async move {
                Ok(s.db
                    .count(&format!(
                        "SELECT count(*) AS n FROM queue_agents WHERE source = 'pbx' AND queue = '6400'
                           AND agent = '2003' AND status = '{status}' AND reason IS NOT DISTINCT FROM {reason}"
                    ))
                    .await?
                    == 1)
            })
            .await
        }
    };
    agent("paused", "'lunch break'").await?;
    let (status, b) =
        on_extension(&s, &sup, "pbx", "2003", "resume", json!({"queue": "6400"})).await;
    assert_eq!(status, 200, "{b}");
    agent("available", "NULL").await?;

    let seen = pbx.control_seen();
    let update: Vec<&Value> = seen
        .iter()
        .filter(|(p, _)| p == "extension/update")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        update,
        [
            &json!({"id": 101, "presence_status": "lunch"}),
            &json!({"id": 101, "presence_status": "do_not_disturb"})
        ]
    );
    let pause: Vec<&Value> = seen
        .iter()
        .filter(|(p, _)| p == "agent/pause")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(pause[0]["ext_id"], "101");
    assert_eq!(pause[0]["queue_ids"], "100");
    assert_eq!(pause[0]["operation"], "pause");
    assert_eq!(pause[1]["operation"], "unpause");
    assert_eq!(
        audited(&s, "ok", "AND action = 'presence' AND extension = '2003' AND detail = 'lunch' AND call_id IS NULL").await,
        1
    );
    assert_eq!(
        audited(
            &s,
            "ok",
            "AND action = 'pause' AND detail = 'queue 6400: lunch break'"
        )
        .await,
        1
    );
    assert_eq!(audited(&s, "ok", "AND action = 'resume'").await, 1);
    Ok(())
}
