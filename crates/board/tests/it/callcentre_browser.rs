//! The call centre in a real browser (headless chromium over WebDriver),
//! fed by signed Yeastar webhooks through the real ingest and worker: a
//! queue card's waiting count and ticking wait, an agent's pause on its
//! extension's card, a missed call on the list until it is called back or
//! marked done, the wallboard opened with a token, and the compact board
//! holding 1,000 extensions.

use futures_util::future::join_all;
use serde_json::json;
use testkit::Stack;
use traffic::scenario::yeastar_envelope;

use crate::cc::{caller, play, token, yeastar, AGENTS, QUEUE};
use crate::helpers::{stack, OPERATOR, VIEWER};
use crate::webdriver::{wait_for, Browser};

/// The queue card's selector.
fn queue_card() -> String {
    format!(".queue-card[data-source='pbx'][data-queue='{QUEUE}']")
}

/// The missed-call entry of `number`.
fn missed(number: &str) -> String {
    format!("#missed-calls [data-missed-call][data-source='pbx'][data-number='{number}']")
}

/// `m:ss` (or `h:mm:ss`).
fn is_wait(s: &str) -> bool {
    let (m, ss) = s.rsplit_once(':').unwrap_or(("", ""));
    !m.is_empty() && ss.len() == 2 && s.chars().all(|c| c.is_ascii_digit() || c == ':')
}

async fn logged_in(s: &Stack, who: (&str, &str)) -> Browser {
    let b = Browser::start().await;
    b.login(&s.board().url(), who.0, who.1).await;
    b.wait_attr("#connection", "data-state", "live").await;
    b
}

#[tokio::test]
async fn a_queue_card_counts_the_waiting_and_ticks_the_longest_wait() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let b = logged_in(&s, VIEWER).await;
    assert_eq!(b.count(".queue-card").await, 0, "no queues yet");

    // A caller enters the queue: one waiting, a wait that ticks.
    let sc = yeastar("queue-answered", 0, 1);
    play(&s, &sc, Some("queued")).await?;
    b.wait_attr(&queue_card(), "data-waiting", "1").await;
    let first: u64 = wait_for(
        "a longest wait",
        || async {
            Ok(b.attr(&queue_card(), "data-longest-wait")
                .await?
                .and_then(|v| v.parse::<u64>().ok()))
        },
        |v| v.is_some(),
    )
    .await
    .unwrap_or_default();
    let shown = b
        .text(&format!("{} [data-field=longest-wait]", queue_card()))
        .await?
        .unwrap_or_default();
    assert!(is_wait(&shown), "the wait in words: {shown:?}");
    wait_for(
        "the longest wait ticking",
        || async {
            Ok(b.attr(&queue_card(), "data-longest-wait")
                .await?
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0))
        },
        |v| *v > first,
    )
    .await;
    let state = b
        .text(&format!("{} [data-field=state]", queue_card()))
        .await?
        .unwrap_or_default();
    assert_eq!(state, "1 caller waiting");
    assert!(
        b.text(&format!("{} [data-field=agents]", queue_card()))
            .await?
            .unwrap_or_default()
            .contains("free"),
        "agents in words"
    );

    // Answered: nobody waits, the wait is 0.
    for step in sc.steps.iter().skip(1) {
        s.deliver("pbx", &step.body).await?;
    }
    b.wait_attr(&queue_card(), "data-waiting", "0").await;
    b.wait_attr(&queue_card(), "data-longest-wait", "0").await;
    assert_eq!(
        b.text(&format!("{} [data-field=state]", queue_card()))
            .await?
            .as_deref(),
        Some("Nobody waiting")
    );

    // An agent pauses for a meeting: its card says so.
    play(&s, &yeastar("agent-day", 0, 2), None).await?;
    let card = format!(
        "#cards .card[data-source='pbx'][data-extension='{}']",
        AGENTS[0]
    );
    b.wait_attr(&card, "data-agent-status", "paused").await;
    let agent_line = format!("{card} [data-field=agent]");
    wait_for(
        "the pause's reason on the card",
        || b.text(&agent_line),
        |t| t.as_deref() == Some("Agent: Paused: Meeting"),
    )
    .await;
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn an_abandoned_call_is_listed_until_called_back_or_marked_done() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let b = logged_in(&s, OPERATOR).await;
    play(&s, &yeastar("queue-abandoned", 1, 1), None).await?;
    play(&s, &yeastar("missed", 2, 2), None).await?;
    for n in [caller(1), caller(2)] {
        b.wait_attr(&missed(n), "data-number", n).await;
    }
    assert_eq!(b.text("[data-count=missed]").await?.as_deref(), Some("2"));
    let what = b
        .text(&format!("{} .missed-what", missed(caller(1))))
        .await?
        .unwrap_or_default();
    assert!(what.contains("Abandoned in a queue"), "{what:?}");

    // Called back: it leaves the list by itself.
    play(&s, &yeastar("callback", 1, 3), None).await?;
    wait_for(
        "the called-back number off the list",
        || async { Ok(b.count(&missed(caller(1))).await) },
        |n| *n == 0,
    )
    .await;
    // Marked done by the operator: it leaves the list, audited.
    b.click(&format!(
        "{} button[data-action=missed-done]",
        missed(caller(2))
    ))
    .await;
    wait_for(
        "the marked number off the list",
        || async { Ok(b.count(&missed(caller(2))).await) },
        |n| *n == 0,
    )
    .await;
    wait_for(
        "the notice",
        || b.text("#notice"),
        |t| t.as_deref() == Some("marked done"),
    )
    .await;
    assert_eq!(crate::cc::audited(&s).await, 1);
    assert_eq!(b.text("[data-count=missed]").await?.as_deref(), Some("0"));
    b.close().await;
    Ok(())
}

/// Registers extensions `first..first+n` of `pbx` (Yeastar 30007), sixteen
/// posts at a time through ingest.
pub async fn register(s: &Stack, first: u32, n: u32) -> anyhow::Result<()> {
    let bodies: Vec<Vec<u8>> = (first..first + n)
        .map(|e| {
            yeastar_envelope(
                30007,
                &json!({"extension": e.to_string(), "kind": "Sip", "status": "Registered"}),
            )
        })
        .collect();
    for chunk in bodies.chunks(16) {
        for r in join_all(chunk.iter().map(|b| s.send("pbx", b))).await {
            r?;
        }
    }
    Ok(())
}

/// Cards wholly inside the viewport, each showing its number and status.
const VISIBLE_CARDS_JS: &str = r#"
const W = window.innerWidth, H = window.innerHeight;
let n = 0, blank = 0;
for (const c of document.querySelectorAll('#cards .card')) {
  const r = c.getBoundingClientRect();
  if (r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= H && r.right <= W) {
    n++;
    const num = c.querySelector('[data-field=number]'), st = c.querySelector('[data-field=status]');
    if (!num || !num.textContent || !st || !st.textContent || num.getBoundingClientRect().width === 0) blank++;
  }
}
return [n, blank, W, H];
"#;

#[tokio::test]
async fn the_compact_board_shows_200_of_1000_extensions_on_1920x1080() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    register(&s, 3000, 1000).await?;
    // All applied before the page is timed (a loaded machine takes a while).
    s.db.wait_count(
        std::time::Duration::from_secs(180),
        testkit::Counter::Pending,
        "true",
        0,
    )
    .await?;
    let b = logged_in(&s, VIEWER).await;
    let chrome: u32 = b
        .js("return window.outerHeight - window.innerHeight;", vec![])
        .await?;
    b.client.set_window_size(1920, 1080 + chrome).await?;
    wait_for(
        "1,000 cards",
        || async { Ok(b.count("#cards .card").await) },
        |n| *n == 1000,
    )
    .await;
    let full: (usize, usize, u32, u32) = b.js(VISIBLE_CARDS_JS, vec![]).await?;
    b.click("[data-action=density]").await;
    b.wait_attr("[data-action=density]", "aria-pressed", "true")
        .await;
    let compact: (usize, usize, u32, u32) = b.js(VISIBLE_CARDS_JS, vec![]).await?;
    eprintln!("cards in a 1920x1080 viewport: full {full:?}, compact {compact:?}");
    assert_eq!(compact.3, 1080, "the viewport is 1080 high: {compact:?}");
    assert!(compact.2 >= 1900, "the viewport is 1920 wide: {compact:?}");
    assert!(compact.0 >= 200, "compact shows at least 200: {compact:?}");
    assert_eq!(compact.1, 0, "each shows its number and status");
    assert!(full.0 < compact.0, "denser than the full board: {full:?}");
    // Remembered.
    b.goto(&format!("{}/", s.board().url())).await;
    b.wait_attr("[data-action=density]", "aria-pressed", "true")
        .await;
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn the_wallboard_opens_with_a_token_in_the_fragment() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let t = token(&s, "lobby-tv").await?;
    let url = s.board().url();
    let b = Browser::start().await;

    // No token: it says how to open it, and reads nothing.
    b.goto(&format!("{url}/wallboard")).await;
    b.wait_attr("#wb-status", "data-state", "refused").await;
    assert_eq!(b.attr("#wb-help", "hidden").await?, None, "the help shows");

    // A caller waits; the screen, never logged in, shows it.
    let sc = yeastar("queue-answered", 0, 1);
    play(&s, &sc, Some("queued")).await?;
    b.goto(&format!("{url}/wallboard#token={t}")).await;
    b.wait_attr("#wb-status", "data-state", "live").await;
    let tile = format!("#wb-queues {}", queue_card());
    b.wait_attr(&tile, "data-waiting", "1").await;
    let href: String = b.js("return window.location.href;", vec![]).await?;
    assert_eq!(
        href,
        format!("{url}/wallboard"),
        "the token left the address bar"
    );
    assert!(!b
        .js::<String>("return document.cookie;", vec![])
        .await?
        .contains("sbt_"));
    wait_for(
        "the wait ticking on the wallboard",
        || async {
            Ok(b.attr(&tile, "data-longest-wait")
                .await?
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0))
        },
        |v| *v >= 2,
    )
    .await;
    assert_eq!(
        b.text(".wb-totals [data-field=waiting]").await?.as_deref(),
        Some("1")
    );

    // Answered; a reload of the tab keeps the token (this tab only).
    for step in sc.steps.iter().skip(1) {
        s.deliver("pbx", &step.body).await?;
    }
    b.goto(&format!("{url}/wallboard")).await;
    b.wait_attr("#wb-status", "data-state", "live").await;
    b.wait_attr(&tile, "data-waiting", "0").await;
    b.wait_attr(&tile, "data-longest-wait", "0").await;
    wait_for(
        "today's answered call",
        || b.text(".wb-totals [data-field=answered]"),
        |t| t.as_deref() == Some("1"),
    )
    .await;

    // Revoked: the screen says so and forgets the token.
    testkit::worker_ok(&s.db.url, &["token", "revoke", "lobby-tv"]).await?;
    b.wait_attr("#wb-status", "data-state", "refused").await;
    let kept: Option<String> = b
        .js(
            "return sessionStorage.getItem('switchboard.wallboard.token');",
            vec![],
        )
        .await?;
    assert_eq!(kept, None);
    b.close().await;
    Ok(())
}
