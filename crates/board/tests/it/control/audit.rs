//! `worker audit` after one of each kind of action and of refusal: what
//! docs/call-control.md shows.

use std::time::Duration;

use serde_json::json;

use super::{cookies, on_call, on_extension, yeastar_call, yeastar_stack, SUPERVISOR};
use crate::actions::{set_api, yeastar_stdin};
use crate::fake_pbx::{CLIENT_ID, CLIENT_SECRET};

#[tokio::test]
async fn worker_audit_lists_every_kind_of_action_and_refusal() -> anyhow::Result<()> {
    let (s, pbx) = yeastar_stack(&["--action-timeout", "1s"]).await?;
    let (op, sup, viewer) = cookies(&s).await;
    testkit::worker_ok(&s.db.url, &["user", "set-extension", SUPERVISOR.0, "2009"]).await?;
    let ok = |(status, b): (u16, serde_json::Value)| assert_eq!(status, 200, "{b}");

    // Hang up, then again on the ended call.
    let (c1, l1) = yeastar_call(&s, &pbx, "1790003001.1", "2002", true).await?;
    ok(on_call(&s, &op, "pbx", &c1, "hangup", json!({"leg_id": l1})).await);
    s.wait_extension("pbx", "2002", "online").await?;
    on_call(&s, &op, "pbx", &c1, "hangup", json!({"leg_id": l1})).await;
    // Blind transfer.
    let (c2, l2) = yeastar_call(&s, &pbx, "1790003002.1", "2002", false).await?;
    ok(on_call(
        &s,
        &op,
        "pbx",
        &c2,
        "transfer",
        json!({"leg_id": l2, "to": "2003"}),
    )
    .await);
    s.wait_extension("pbx", "2003", "incall").await?;
    // Attended: consult and cancel, consult and complete.
    let (c3, l3) = yeastar_call(&s, &pbx, "1790003003.1", "2004", true).await?;
    let t = |body| on_call(&s, &op, "pbx", &c3, "transfer", body);
    ok(t(json!({"leg_id": l3, "to": "2005", "mode": "attended"})).await);
    s.wait_extension("pbx", "2005", "incall").await?;
    ok(t(json!({"leg_id": l3, "mode": "cancel"})).await);
    s.wait_extension("pbx", "2005", "online").await?;
    ok(t(json!({"leg_id": l3, "to": "2005", "mode": "attended"})).await);
    s.wait_extension("pbx", "2005", "incall").await?;
    ok(t(json!({"leg_id": l3, "mode": "complete"})).await);
    s.wait_extension("pbx", "2004", "online").await?;
    // Hold, unhold (unavailable), listen, whisper, barge, park.
    let (c4, l4) = yeastar_call(&s, &pbx, "1790003004.1", "2006", true).await?;
    let leg = json!({"leg_id": l4});
    ok(on_call(&s, &op, "pbx", &c4, "hold", leg.clone()).await);
    on_call(&s, &op, "pbx", &c4, "unhold", leg.clone()).await;
    for mode in ["listen", "whisper", "barge"] {
        ok(on_call(
            &s,
            &sup,
            "pbx",
            &c4,
            "listen",
            json!({"leg_id": l4, "mode": mode}),
        )
        .await);
    }
    // Refused by role: a viewer parking, an operator listening.
    on_call(&s, &viewer, "pbx", &c4, "park", leg.clone()).await;
    on_call(&s, &op, "pbx", &c4, "listen", leg.clone()).await;
    ok(on_call(&s, &op, "pbx", &c4, "park", leg.clone()).await);
    // Presence, pause, resume.
    ok(on_extension(
        &s,
        &op,
        "pbx",
        "2003",
        "presence",
        json!({"status": "away"}),
    )
    .await);
    ok(on_extension(
        &s,
        &sup,
        "pbx",
        "2003",
        "pause",
        json!({"queue": "6400", "reason": "training"}),
    )
    .await);
    ok(on_extension(&s, &sup, "pbx", "2003", "resume", json!({"queue": "6400"})).await);
    // The PBX refuses; is late; cannot be reached; no API settings.
    let (c5, l5) = yeastar_call(&s, &pbx, "1790003005.1", "2007", true).await?;
    let leg = json!({"leg_id": l5});
    pbx.fail_hangups(Some((20003, "THE CALL IS NOT IN A STATE THAT ALLOWS IT")));
    on_call(&s, &op, "pbx", &c5, "hold", leg.clone()).await;
    pbx.delay_hangups(Duration::from_millis(1500));
    on_call(&s, &op, "pbx", &c5, "park", leg.clone()).await;
    let closed = testkit::free_port().expect("a free port");
    set_api(
        &s,
        "pbx",
        &format!("http://127.0.0.1:{closed}"),
        &yeastar_stdin(CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    on_call(
        &s,
        &op,
        "pbx",
        &c5,
        "transfer",
        json!({"leg_id": l5, "to": "2003"}),
    )
    .await;
    testkit::worker_ok(&s.db.url, &["source", "clear-api", "pbx"]).await?;
    on_extension(&s, &op, "pbx", "2007", "presence", json!({"status": "dnd"})).await;

    let out = testkit::worker_ok(&s.db.url, &["audit", "--limit", "100"]).await?;
    eprintln!("{out}");
    for word in [
        " hangup ",
        " transfer to 2003",
        "attended_transfer to 2005",
        "transfer_cancel",
        "transfer_complete",
        " park ",
        " hold ",
        " unhold ",
        " listen ",
        " whisper ",
        " barge ",
        "presence away",
        "pause queue 6400: training",
        "resume queue 6400",
        " ok ",
        " not_live ",
        " unavailable ",
        " refused ",
        " provider_error ",
        " timeout ",
        " unreachable ",
        " no_api ",
        "only operators may park calls",
        "only supervisors may listen, whisper or barge in",
    ] {
        assert!(out.contains(word), "{word:?} missing:\n{out}");
    }
    Ok(())
}
