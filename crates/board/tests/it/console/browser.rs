//! The console in real headless chromium: an operator finds a dead event,
//! reads it, replays it and sees the worker apply it; opens the endpoint
//! whose deliveries were given up and recovers them once the receiver is
//! back. And the screenshots of In and Out for the docs (ignored; `just
//! screenshot-console`).

use testkit::{wait_until, Counter, Stack};

use super::support::{console_stack, dead_event, given_up, ringing, Receiver};
use crate::callcentre_screens::shot;
use crate::helpers::{OPERATOR, WAIT};
use crate::webdriver::{wait_for, Browser};

/// Sets the "failed since" field to an hour ago, in the browser's zone.
const SINCE_AN_HOUR_AGO: &str = r#"
const t = new Date(Date.now() - 3600e3), p = (n) => String(n).padStart(2, '0');
document.getElementById('recover-since').value = t.getFullYear() + '-' + p(t.getMonth() + 1) + '-'
  + p(t.getDate()) + 'T' + p(t.getHours()) + ':' + p(t.getMinutes());
"#;

/// Opens the console's In on `query`, waits for `n` events listed.
async fn open_in(b: &Browser, url: &str, query: &str, n: usize) {
    b.goto(&format!("{url}/console?{query}")).await;
    b.wait_attr("#events", "data-count", &n.to_string()).await;
}

/// Opens Out and endpoint `name`, waits for `n` deliveries listed.
async fn open_out(b: &Browser, url: &str, name: &str, n: i64) {
    b.goto(&format!("{url}/console#out")).await;
    b.wait_attr("#endpoints", "data-count", "1").await;
    b.click(&format!("#endpoints tr[data-endpoint='{name}']"))
        .await;
    b.wait_attr("#deliveries-panel", "data-endpoint", name)
        .await;
    b.wait_attr("#deliveries", "data-count", &n.to_string())
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_replays_a_dead_event_and_recovers_deliveries_in_the_console(
) -> anyhow::Result<()> {
    let s = console_stack().await?;
    let url = s.board().url();
    let rx = Receiver::start().await;
    given_up(&s, &rx, "out-1").await?;
    let dead = dead_event(&s, "dead-1").await?;
    let b = Browser::start().await;
    b.login(&url, OPERATOR.0, OPERATOR.1).await;
    // The board links the console for operators.
    let shown: bool = b
        .js(
            "const a = document.querySelector('.views a[href=\"/console\"]');
             return !!a && getComputedStyle(a).display !== 'none';",
            vec![],
        )
        .await?;
    assert!(shown, "the board's link to the console");

    // In: the dead event, read, replayed, applied.
    open_in(&b, &url, "outcome=dead", 1).await;
    b.click(&format!("#events tr[data-id='{dead}']")).await;
    b.wait_attr("#event", "data-id", &dead.to_string()).await;
    let body = b.text("#event-body").await?.unwrap_or_default();
    assert!(body.contains("dead-1") && body.contains("\n  "), "{body}");
    let error = b.text("#event-error").await?.unwrap_or_default();
    assert!(error.contains("refused for maintenance"), "{error}");
    let headers = b.text("#event-headers").await?.unwrap_or_default();
    assert!(headers.contains("content-type"), "{headers}");
    assert!(!headers.to_lowercase().contains("signature"), "{headers}");
    b.click("#replay").await;
    b.wait_attr("#event", "data-outcome", "applied").await;
    s.wait_processed(dead).await?;
    assert_eq!(
        s.db.count_where(Counter::Applied, &format!("id = {dead}"))
            .await?,
        1
    );

    // Out: the given-up deliveries (the replayed call's too, once given
    // up), recovered once the receiver is back.
    let count = |state: &'static str| {
        let s = &s;
        async move {
            s.db.count(&format!(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE state = '{state}'"
            ))
            .await
        }
    };
    wait_until(WAIT, "every delivery given up", || async {
        Ok(count("pending").await? == 0)
    })
    .await?;
    let failed = count("failed").await?;
    open_out(&b, &url, "crm", failed).await;
    assert_eq!(
        b.count("#deliveries tr[data-state='failed']").await as i64,
        failed
    );
    let excerpt = b
        .text("#deliveries tr td:nth-child(9)")
        .await?
        .unwrap_or_default();
    assert_eq!(excerpt, "crm is down");
    rx.up();
    b.js::<()>(SINCE_AN_HOUR_AGO, vec![]).await?;
    b.click("#recover").await;
    wait_for(
        "the recovery's notice",
        || b.text("#notice"),
        |t| {
            t.as_deref()
                .is_some_and(|t| t.contains("will be sent again"))
        },
    )
    .await;
    wait_until(WAIT, "the recovered deliveries delivered", || async {
        Ok(count("delivered").await? == failed)
    })
    .await?;
    b.click("#out-filter button[type=submit]").await;
    wait_for(
        "the deliveries shown delivered",
        || async {
            Ok::<_, anyhow::Error>(b.count("#deliveries tr[data-state='delivered']").await as i64)
        },
        |n| *n == failed,
    )
    .await;
    let actions =
        s.db.count("SELECT count(*) AS n FROM console_actions WHERE user_name = 'olivia'")
            .await?;
    assert_eq!(actions, 2, "the replay and the recovery audited");
    b.close().await;
    Ok(())
}

/// A scene for the pictures: calls applied, two dead events, deliveries
/// given up, then some delivered.
async fn scene(s: &Stack, rx: &Receiver) -> anyhow::Result<i64> {
    given_up(s, rx, "1790000101.11").await?;
    given_up(s, rx, "1790000102.12").await?;
    rx.up();
    for (i, ext) in ["2001", "2003", "2004", "2007"].iter().enumerate() {
        s.deliver("pbx", &ringing(&format!("17900002{i:02}.3{i}"), ext))
            .await?;
    }
    dead_event(s, "dead-1790000301.40").await?;
    dead_event(s, "dead-1790000302.41").await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes docs/console-in.png and docs/console-out.png: `just screenshot-console`"]
async fn screenshot_console() -> anyhow::Result<()> {
    let s = console_stack().await?;
    let url = s.board().url();
    let rx = Receiver::start().await;
    let dead = scene(&s, &rx).await?;
    let b = Browser::start().await;
    b.login(&url, OPERATOR.0, OPERATOR.1).await;
    b.client.set_window_size(1280, 900).await?;
    let n: i64 = s.db.count("SELECT count(*) AS n FROM events").await?;
    open_in(&b, &url, "source=pbx", n as usize).await;
    b.click(&format!("#events tr[data-id='{dead}']")).await;
    b.wait_attr("#event", "data-id", &dead.to_string()).await;
    shot(&b, 1280, 900, "console-in.png").await;
    let all =
        s.db.count("SELECT count(*) AS n FROM webhook_deliveries")
            .await?;
    open_out(&b, &url, "crm", all.min(50)).await;
    shot(&b, 1280, 900, "console-out.png").await;
    b.close().await;
    Ok(())
}
