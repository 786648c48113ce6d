//! Call control through Dialpad (the fake): a blind transfer, do-not-
//! disturb, an operator's duty status; what Dialpad cannot do (attended
//! transfer, park, hold, listen, presences other than dnd) refused as
//! unavailable, with the reason, and never sent.

use std::time::Duration;

use serde_json::json;
use testkit::Stack;
use traffic::scenario;

use super::roles::capabilities;
use super::{control_stack, cookies, on_call, on_extension, wait_card};
use crate::actions::{audited, error_of, live_leg};
use crate::fake_pbx::{Dialpad, DIALPAD_KEY};
use crate::helpers::WAIT;

const SALES_SECRET: &str = "sales-secret-0123456789abcdef012";

/// A stack with the Dialpad source `sales` and its fake, set up as its API.
pub(crate) async fn dialpad_stack(board_args: &[&str]) -> anyhow::Result<(Stack, Dialpad)> {
    let s = control_stack(board_args, |b| b.dialpad("sales", SALES_SECRET)).await?;
    let dp = Dialpad::start(s.ingest().authority(), "sales", SALES_SECRET).await;
    testkit::worker_ok_stdin(
        &s.db.url,
        &["source", "set-api", "sales", "--base-url", dp.url()],
        &format!("{DIALPAD_KEY}\n"),
    )
    .await?;
    Ok((s, dp))
}

/// A connected call to user `user` on leg `leg`, known to the fake.
pub(crate) async fn connected(
    s: &Stack,
    dp: &Dialpad,
    leg: u64,
    user: u64,
) -> anyhow::Result<(String, String)> {
    let t0 = chrono::Utc::now().timestamp_millis() - 20_000;
    let steps = scenario::dialpad_inbound(leg, user, "Tomás Reyes", "+442079460958", t0);
    let claims = |label: &str| {
        steps
            .iter()
            .find(|s| s.label == label)
            .expect(label)
            .body
            .clone()
    };
    dp.add_call(&leg.to_string(), &claims("hangup"));
    for label in ["ringing", "connected"] {
        s.send("sales", &claims(label)).await?;
    }
    s.wait_extension("sales", &user.to_string(), "incall")
        .await?;
    Ok(live_leg(s, "sales", &user.to_string()).await)
}

#[tokio::test]
async fn dialpad_transfers_blind_sets_dnd_and_takes_operators_off_duty() -> anyhow::Result<()> {
    let (s, dp) = dialpad_stack(&[]).await?;
    let (op, sup, _) = cookies(&s).await;
    let (call_id, leg_id) = connected(&s, &dp, 9184732650918201, 302).await?;

    // What Dialpad cannot do: 409 with the reason, audited, never sent.
    for (action, body, sup_only) in [
        (
            "transfer",
            json!({"leg_id": leg_id, "to": "303", "mode": "attended"}),
            false,
        ),
        ("park", json!({"leg_id": leg_id}), false),
        ("hold", json!({"leg_id": leg_id}), false),
        ("unhold", json!({"leg_id": leg_id}), false),
        ("listen", json!({"leg_id": leg_id}), true),
    ] {
        let cookie = if sup_only { &sup } else { &op };
        let (status, b) = on_call(&s, cookie, "sales", &call_id, action, body).await;
        assert_eq!(status, 409, "{action}: {b}");
        assert!(error_of(&b).starts_with("Dialpad's API"), "{action}: {b}");
    }
    let (status, b) = on_extension(
        &s,
        &op,
        "sales",
        "302",
        "presence",
        json!({"status": "lunch"}),
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert_eq!(
        error_of(&b),
        "Dialpad's API only turns do-not-disturb on or off: it cannot set lunch"
    );
    assert_eq!(audited(&s, "unavailable", "AND source = 'sales'").await, 6);
    assert!(dp.control_seen().is_empty());

    // A blind transfer to user 303: its new leg rings, then connects.
    let (status, b) = on_call(
        &s,
        &op,
        "sales",
        &call_id,
        "transfer",
        json!({"leg_id": leg_id, "to": "303"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    s.wait_extension("sales", "303", "incall").await?;
    s.wait_extension("sales", "302", "online").await?;
    // do-not-disturb: no event from Dialpad, so the card cannot show it.
    let (status, b) = on_extension(
        &s,
        &op,
        "sales",
        "302",
        "presence",
        json!({"status": "dnd"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    // Off duty, then on again: Dialpad's agent status events.
    let (status, b) = on_extension(
        &s,
        &sup,
        "sales",
        "303",
        "pause",
        json!({"queue": "sales", "reason": "coaching"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let agent = |status: &'static str| {
        let s = &s;
        async move {
            testkit::wait_until(WAIT, "the operator's duty status", || async move {
                Ok(s.db
                    .count(&format!(
                        "SELECT count(*) AS n FROM queue_agents WHERE source = 'sales' AND agent = '303' AND status = '{status}'"
                    ))
                    .await?
                    >= 1)
            })
            .await
        }
    };
    agent("paused").await?;
    let (status, b) = on_extension(
        &s,
        &sup,
        "sales",
        "303",
        "resume",
        json!({"queue": "sales"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    agent("available").await?;
    assert_eq!(
        dp.control_seen(),
        vec![
            (
                format!("call/{leg_id}/transfer"),
                json!({"to": "303", "transfer_state": "hold"})
            ),
            (
                "users/302/togglednd".to_string(),
                json!({"do_not_disturb": true})
            ),
            (
                "callcenters/operators/303/dutystatus".to_string(),
                json!({"on_duty": false, "on_duty_status_reason": "coaching"})
            ),
            (
                "callcenters/operators/303/dutystatus".to_string(),
                json!({"on_duty": true})
            ),
        ]
    );
    assert_eq!(audited(&s, "ok", "AND source = 'sales'").await, 4);

    // The page is told the same, with the reasons.
    let caps = capabilities(&s.board().url(), &sup, "sales").await;
    assert_eq!(caps["provider"], "dialpad");
    for k in ["hangup", "transfer", "presence", "pause"] {
        assert_eq!(caps["actions"][k]["available"], true, "{k}: {caps}");
    }
    for k in [
        "attended_transfer",
        "park",
        "hold",
        "unhold",
        "listen",
        "whisper",
        "barge",
    ] {
        assert_eq!(caps["actions"][k]["available"], false, "{k}: {caps}");
        assert!(
            caps["actions"][k]["reason"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Dialpad's API"),
            "{k}: {caps}"
        );
    }
    assert_eq!(caps["presences"], json!(["available", "dnd"]));
    assert!(caps["notes"]["pause"]
        .as_str()
        .unwrap_or_default()
        .contains("every call centre"));
    Ok(())
}

#[tokio::test]
async fn dialpad_refusals_are_verbatim_timeouts_bounded_and_double_clicks_act_once(
) -> anyhow::Result<()> {
    let (s, dp) = dialpad_stack(&["--action-timeout", "1s"]).await?;
    let (op, sup, _) = cookies(&s).await;
    let (call_id, leg_id) = connected(&s, &dp, 9184732650918301, 302).await?;
    dp.fail_control(Some((403, "Operator is not a member of this call center")));
    let (status, b) =
        on_extension(&s, &sup, "sales", "302", "pause", json!({"queue": "sales"})).await;
    assert_eq!(status, 502, "{b}");
    assert_eq!(
        error_of(&b),
        "Dialpad refused the agent pause: Operator is not a member of this call center (HTTP 403)"
    );
    let (status, b) = on_call(
        &s,
        &op,
        "sales",
        &call_id,
        "transfer",
        json!({"leg_id": leg_id, "to": "303"}),
    )
    .await;
    assert_eq!(status, 502, "{b}");
    assert!(
        error_of(&b).starts_with("Dialpad refused the transfer: "),
        "{b}"
    );
    assert_eq!(
        audited(
            &s,
            "provider_error",
            "AND provider_answer LIKE 'HTTP 403 %'"
        )
        .await,
        2
    );

    dp.delay_control(Duration::from_millis(1500));
    let send = || {
        on_call(
            &s,
            &op,
            "sales",
            &call_id,
            "transfer",
            json!({"leg_id": leg_id, "to": "303"}),
        )
    };
    // The second click once the first is at the phone system (the fake
    // records a request before its delay).
    let seen = dp.control_seen().len();
    let second = async {
        testkit::wait_until(WAIT, "the first transfer at the fake", || async {
            Ok(dp.control_seen().len() > seen)
        })
        .await
        .expect("the first transfer reaches the fake");
        send().await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(send(), second);
    assert_eq!(s1, 504, "{b1}");
    assert_eq!(s2, 409, "{b2}");
    assert_eq!(
        error_of(&b2),
        "an action on this call is already in progress"
    );
    assert_eq!(audited(&s, "timeout", "AND action = 'transfer'").await, 1);
    testkit::wait_until(WAIT, "the late request", || async {
        Ok(dp.control_seen().len() >= 3)
    })
    .await?;
    assert_eq!(dp.control_seen().len(), 3, "the double click sent nothing");
    wait_card(&s, &op, "sales", "302", "302 still in call", |c| {
        c["status"] == "incall"
    })
    .await?;
    Ok(())
}
