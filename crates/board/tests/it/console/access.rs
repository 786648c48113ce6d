//! Who may use the console's API (operators and supervisors; viewers 403,
//! API tokens and strangers 401), the origin check of its actions, and bad
//! input refused with 400 before any query, changing nothing.

use serde_json::json;

use super::support::{ask, audit, console_stack, get, post, row, SUPERVISOR};
use crate::helpers::{http, login, OPERATOR, VIEWER};

#[tokio::test(flavor = "multi_thread")]
async fn only_operators_and_supervisors_use_the_console_and_actions_check_the_origin(
) -> anyhow::Result<()> {
    let s = console_stack().await?;
    let base = s.board().url();
    let op = login(&base, OPERATOR.0, OPERATOR.1).await;
    let sup = login(&base, SUPERVISOR.0, SUPERVISOR.1).await;
    let viewer = login(&base, VIEWER.0, VIEWER.1).await;
    let token = testkit::worker_ok(&s.db.url, &["token", "add", "crm"])
        .await?
        .trim()
        .to_string();
    for path in [
        "/api/console/events",
        "/api/console/events/1",
        "/api/console/endpoints",
        "/api/console/endpoints/crm/deliveries",
    ] {
        assert_eq!(get(&s, path, &viewer).await.0, 403, "viewer {path}");
        assert_eq!(
            ask(&s, "GET", path, None, None, None).await.0,
            401,
            "{path}"
        );
        let r = http()
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(r.status(), 401, "a token does not open {path}");
        assert_ne!(get(&s, path, &sup).await.0, 403, "supervisor {path}");
    }
    // The page: operators and supervisors; viewers 403; others to login.
    for (cookie, want) in [
        (Some(&op), 200),
        (Some(&sup), 200),
        (Some(&viewer), 403),
        (None, 303),
    ] {
        let mut r = http().get(format!("{base}/console"));
        if let Some(c) = cookie {
            r = r.header("Cookie", c.as_str());
        }
        assert_eq!(r.send().await?.status().as_u16(), want);
    }
    // Actions: a viewer is refused, and so is another origin or none.
    let replay = json!({"source": "pbx"});
    assert_eq!(
        post(
            &s,
            "/api/console/replay-dead",
            &viewer,
            Some(replay.clone())
        )
        .await
        .0,
        403
    );
    for origin in [Some("https://evil.example"), None] {
        let (status, body) = ask(
            &s,
            "POST",
            "/api/console/replay-dead",
            Some(&op),
            origin,
            Some(replay.clone()),
        )
        .await;
        assert_eq!(status, 403, "origin {origin:?}: {body}");
    }
    assert!(audit(&s).await.is_empty(), "nothing refused is audited");
    let (status, body) = post(&s, "/api/console/replay-dead", &sup, Some(replay)).await;
    assert_eq!((status, &body["replayed"]), (200, &json!(0)), "{body}");
    assert_eq!(
        audit(&s).await,
        vec![row(SUPERVISOR.0, "replay_dead", "pbx", 0)]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_400_and_changes_nothing() -> anyhow::Result<()> {
    let s = console_stack().await?;
    let op = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    for path in [
        "/api/console/events?outcome=lost",
        "/api/console/events?source=PBX",
        "/api/console/events?call_id=a%00b",
        "/api/console/events?event_type=%1b%5b31m",
        "/api/console/events?since=yesterday",
        "/api/console/events?until=2026-12-07T09:00:00Z%00",
        "/api/console/events?before=0",
        "/api/console/events?before=x",
        "/api/console/events?limit=0",
        "/api/console/events?limit=201",
        "/api/console/events?nope=1",
        "/api/console/events/0",
        "/api/console/events/x",
        "/api/console/events/99999999999999999999",
        "/api/console/endpoints/CRM/deliveries",
        "/api/console/endpoints/crm/deliveries?state=gone",
        "/api/console/endpoints/crm/deliveries?before=-1",
        "/api/console/endpoints/crm/deliveries?limit=1000",
    ] {
        let (status, body) = get(&s, path, &op).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let long = "a".repeat(300);
    for (path, body) in [
        ("/api/console/replay-dead", json!({"source": "PBX"})),
        ("/api/console/replay-dead", json!({"source": "pbx\u{0}"})),
        ("/api/console/replay-dead", json!({"sources": "pbx"})),
        ("/api/console/replay-dead", json!("pbx")),
        ("/api/console/events/x/replay", json!({})),
        (
            "/api/console/endpoints/crm/resend",
            json!({"event_id": "evt_1"}),
        ),
        (
            "/api/console/endpoints/crm/resend",
            json!({"event_id": long}),
        ),
        ("/api/console/endpoints/crm/resend", json!({})),
        (
            "/api/console/endpoints/CRM/resend",
            json!({"event_id": "evt_0123456789abcdef0123456789abcdef"}),
        ),
        (
            "/api/console/endpoints/crm/recover",
            json!({"since": "yesterday"}),
        ),
        (
            "/api/console/endpoints/crm/recover",
            json!({"since": "2026-12-07T09:00:00Z\u{0}"}),
        ),
        ("/api/console/endpoints/crm/recover", json!({})),
    ] {
        let (status, answer) = post(&s, path, &op, Some(body.clone())).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
    }
    assert!(audit(&s).await.is_empty(), "nothing refused is audited");
    assert_eq!(
        s.db.count("SELECT count(*) AS n FROM console_actions")
            .await?,
        0
    );
    Ok(())
}
