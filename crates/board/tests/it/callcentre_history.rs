//! The history page in a real browser: a logged-in person searches past
//! calls (fed by signed Yeastar webhooks through ingest and the worker),
//! pages through them, and downloads the same search as CSV.

use crate::cc::{caller, play, yeastar, QUEUE};
use crate::helpers::{stack, VIEWER};
use crate::webdriver::{wait_for, Browser};

#[tokio::test]
async fn the_history_page_searches_pages_and_links_csv() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    play(&s, &yeastar("queue-answered", 0, 1), None).await?;
    play(&s, &yeastar("queue-abandoned", 1, 2), None).await?;
    play(&s, &yeastar("missed", 2, 3), None).await?;
    let url = s.board().url();
    let b = Browser::start().await;
    // Not logged in: to the login.
    b.goto(&format!("{url}/history")).await;
    let at: String = b.js("return window.location.pathname;", vec![]).await?;
    assert_eq!(at, "/login");
    b.login(&url, VIEWER.0, VIEWER.1).await;
    b.goto(&format!("{url}/history?queue={QUEUE}")).await;
    b.wait_attr("#history-calls", "data-count", "2").await;
    let q: String = b
        .js(
            "return document.querySelector('input[name=queue]').value;",
            vec![],
        )
        .await?;
    assert_eq!(q, QUEUE, "the search is kept in the address");

    // Abandoned only, through the form.
    b.js::<()>(
        "document.querySelector('select[name=disposition]').value = 'abandoned';",
        vec![],
    )
    .await?;
    b.click("#search button[type=submit]").await;
    b.wait_attr("#history-calls", "data-count", "1").await;
    let from = b
        .text("#history-calls tr td:nth-child(4)")
        .await?
        .unwrap_or_default();
    assert_eq!(from, caller(1));
    let href = b.attr("#csv", "href").await?.unwrap_or_default();
    assert!(
        href.contains("format=csv") && href.contains("disposition=abandoned"),
        "{href}"
    );
    let csv: String = b
        .js(
            "return fetch(arguments[0], {credentials: 'same-origin'}).then((r) => r.text());",
            vec![serde_json::json!(href)],
        )
        .await?;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(caller(1)), "{csv}");

    // Pages of one call each: "Next page" until all three are shown.
    b.goto(&format!("{url}/history?limit=1")).await;
    b.wait_attr("#history-calls", "data-count", "1").await;
    for n in ["2", "3"] {
        wait_for(
            "a next page",
            || async { Ok(b.attr("#next", "hidden").await?.is_none()) },
            |shown| *shown,
        )
        .await;
        b.click("#next").await;
        b.wait_attr("#history-calls", "data-count", n).await;
    }
    wait_for(
        "no next page after the last",
        || async { Ok(b.attr("#next", "hidden").await?.is_some()) },
        |hidden| *hidden,
    )
    .await;
    let ids: Vec<String> = b
        .js(
            "return [...document.querySelectorAll('#history-calls tr')].map((r) => r.dataset.callId);",
            vec![],
        )
        .await?;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "each call once: {ids:?}");
    let bad: String = b
        .js(
            "document.querySelector('input[name=number]').value = '+1\\u0000'; \
             document.querySelector('#search button[type=submit]').click(); return 'ok';",
            vec![],
        )
        .await?;
    assert_eq!(bad, "ok");
    wait_for(
        "the refusal in the notice",
        || b.text("#notice"),
        |t| t.as_deref() == Some("invalid number"),
    )
    .await;
    b.close().await;
    Ok(())
}
