//! Every Yeastar action (but the hang-up, tested in `actions`) when the
//! PBX refuses (its message verbatim), and when it is late (the timeout,
//! and a double click acting once).

use std::time::Duration;

use serde_json::{json, Value};

use super::{card, cookies, on_call, on_extension, yeastar_call, yeastar_stack, SUPERVISOR};
use crate::actions::{audited, error_of};
use crate::helpers::WAIT;

/// Every Yeastar action (but the hang-up, tested in `actions`) as `(path
/// of its route, body, who asks, what it is called)`.
fn every_action(leg_id: &str) -> Vec<(&'static str, Value, bool, &'static str)> {
    vec![
        (
            "transfer",
            json!({"leg_id": leg_id, "to": "2003"}),
            false,
            "transfer",
        ),
        (
            "transfer",
            json!({"leg_id": leg_id, "to": "2003", "mode": "attended"}),
            false,
            "attended transfer",
        ),
        ("park", json!({"leg_id": leg_id}), false, "park"),
        ("hold", json!({"leg_id": leg_id}), false, "hold"),
        (
            "listen",
            json!({"leg_id": leg_id, "mode": "barge"}),
            true,
            "barge",
        ),
        (
            "ext:presence",
            json!({"status": "away"}),
            false,
            "presence change",
        ),
        ("ext:pause", json!({"queue": "6400"}), true, "agent pause"),
    ]
}

#[tokio::test]
async fn every_action_shows_the_pbx_refusal_verbatim() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    let (op, sup, _) = cookies(&s).await;
    testkit::worker_ok(&s.db.url, &["user", "set-extension", SUPERVISOR.0, "2009"]).await?;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001501.1", "2002", true).await?;
    pbx.fail_hangups(Some((20003, "THE CALL IS NOT IN A STATE THAT ALLOWS IT")));
    for (route, body, supervisor, what) in every_action(&leg_id) {
        let cookie = if supervisor { &sup } else { &op };
        let (status, b) = match route.strip_prefix("ext:") {
            Some(r) => on_extension(&s, cookie, "pbx", "2002", r, body).await,
            None => on_call(&s, cookie, "pbx", &call_id, route, body).await,
        };
        assert_eq!(status, 502, "{what}: {b}");
        assert_eq!(
            error_of(&b),
            format!("The PBX refused the {what}: THE CALL IS NOT IN A STATE THAT ALLOWS IT (errcode 20003)")
        );
    }
    assert_eq!(
        audited(
            &s,
            "provider_error",
            "AND provider_answer LIKE '%errcode 20003: THE CALL IS NOT%'"
        )
        .await,
        7
    );
    // Nothing changed on the board.
    assert_eq!(card(&s, &op, "pbx", "2002").await["status"], "incall");
    Ok(())
}

#[tokio::test]
async fn every_action_times_out_and_a_double_click_acts_once() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&["--action-timeout", "1s"]).await?;
    let (op, sup, _) = cookies(&s).await;
    testkit::worker_ok(&s.db.url, &["user", "set-extension", SUPERVISOR.0, "2009"]).await?;
    let (call_id, leg_id) = yeastar_call(&s, &pbx, "1790001601.1", "2002", true).await?;
    // Late, and then an error: a late answer changes nothing.
    pbx.delay_hangups(Duration::from_millis(1500));
    pbx.fail_hangups(Some((20003, "TOO LATE")));
    let arrived = pbx.count(&pbx.control_arrived);
    for (route, body, supervisor, what) in every_action(&leg_id) {
        let cookie = if supervisor { &sup } else { &op };
        let send = || {
            let (s, body, call_id) = (&s, body.clone(), &call_id);
            async move {
                match route.strip_prefix("ext:") {
                    Some(r) => on_extension(s, cookie, "pbx", "2002", r, body).await,
                    None => on_call(s, cookie, "pbx", call_id, route, body).await,
                }
            }
        };
        let send = &send;
        // The second click once the first is at the PBX (and so holds the
        // action's place).
        let before = pbx.count(&pbx.control_arrived);
        let second = async {
            testkit::wait_until(WAIT, "the first click at the PBX", || async {
                Ok(pbx.count(&pbx.control_arrived) > before)
            })
            .await?;
            anyhow::Ok(send().await)
        };
        let ((s1, b1), second) = tokio::join!(send(), second);
        let (s2, b2) = second?;
        assert_eq!(s1, 504, "{what}: {b1}");
        assert_eq!(
            error_of(&b1),
            format!("the phone system did not answer within 1s: the {what} may or may not have been done; watch the card")
        );
        assert_eq!(s2, 409, "{what}: {b2}");
        assert!(error_of(&b2).ends_with("is already in progress"), "{b2}");
    }
    assert_eq!(audited(&s, "timeout", "").await, 7);
    assert_eq!(
        audited(
            &s,
            "refused",
            "AND provider_answer LIKE '%already in progress'"
        )
        .await,
        7
    );
    // Each reached the PBX once (presence and pause: their first lookup).
    testkit::wait_until(WAIT, "the PBX's late answers", || async {
        Ok(pbx.control_seen().len() >= 7)
    })
    .await?;
    let seen = pbx.control_seen();
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(pbx.count(&pbx.control_arrived) - arrived, 7);
    Ok(())
}
