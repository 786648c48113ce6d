//! Screenshots of the call centre for the docs (ignored; `just
//! screenshot-callcentre`): the queues panel at 1280 and 390 px, the
//! wallboard at 1920x1080, and the compact board at 1920x1080. The scene is
//! sent as signed Yeastar webhooks through ingest, like any other.

use std::path::PathBuf;

use serde_json::json;
use testkit::Stack;
use traffic::scenario::{yeastar_callcentre, Scenario};

use crate::callcentre_browser::register;
use crate::cc::token;
use crate::helpers::{stack, OPERATOR};
use crate::webdriver::{wait_for, Browser};

/// The queues of the scene and their agents.
const QUEUES: [(&str, [&str; 3]); 4] = [
    ("6401", ["2001", "2002", "2003"]),
    ("6402", ["2004", "2005", "2006"]),
    ("6403", ["2007", "2008", "2009"]),
    ("6404", ["2010", "2011", "2012"]),
];

fn sc(name: &str, n: u64, queue: &str, agents: &[&str], caller: &str) -> Scenario {
    let agents: Vec<String> = agents.iter().map(|a| a.to_string()).collect();
    yeastar_callcentre(name, n, queue, &agents, caller).expect("a scenario")
}

/// Sends the steps of `s` up to `upto` (all with `None`), each processed.
async fn steps(st: &Stack, s: &Scenario, upto: Option<&str>) -> anyhow::Result<()> {
    for step in &s.steps {
        st.deliver("pbx", &step.body).await?;
        if upto == Some(step.label) {
            break;
        }
    }
    Ok(())
}

/// Agent `who` of `queue` reports `status` (Yeastar 30029).
async fn agent(
    st: &Stack,
    queue: &str,
    who: &str,
    status: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let body = json!({"type": 30029, "msg": {"queue_number": format!("queue-{queue}"),
        "agent_number": who, "status": status, "reason": reason}});
    st.deliver("pbx", body.to_string().as_bytes()).await?;
    Ok(())
}

/// A morning in four queues: calls answered and abandoned, callers
/// waiting (the first since the start), agents free, busy and paused,
/// missed calls to return, and `extra` more registered extensions.
async fn scene(st: &Stack, extra: u32) -> anyhow::Result<()> {
    let mut n = 100;
    let mut caller = 0;
    let mut next_caller = || {
        caller += 1;
        format!("+1555555{:04}", 1000 + caller * 37)
    };
    // Someone waits in 6402 from the start (its wait passes 20 s).
    n += 1;
    steps(
        st,
        &sc("queue-answered", n, "6402", &QUEUES[1].1, &next_caller()),
        Some("queued"),
    )
    .await?;
    for (q, agents) in QUEUES {
        for (i, a) in agents.iter().enumerate() {
            let (status, reason) = match (q, i) {
                ("6401", 2) | ("6404", 1) => ("Paused", "Lunch"),
                ("6403", 1) => ("Paused", "Training"),
                ("6402", 2) => ("Wrapup", ""),
                _ => ("Available", ""),
            };
            agent(st, q, a, status, reason).await?;
        }
        for kind in [
            "queue-answered",
            "queue-answered",
            "queue-answered",
            "queue-abandoned",
        ] {
            n += 1;
            steps(st, &sc(kind, n, q, &agents, &next_caller()), None).await?;
        }
    }
    n += 1;
    steps(
        st,
        &sc("missed", n, "6401", &QUEUES[0].1, &next_caller()),
        None,
    )
    .await?;
    // Waiting now: two in 6401, one more in 6402; an agent of 6403 in call.
    for q in [0, 0, 1] {
        n += 1;
        let (queue, agents) = QUEUES[q];
        steps(
            st,
            &sc("queue-answered", n, queue, &agents, &next_caller()),
            Some("queued"),
        )
        .await?;
    }
    n += 1;
    steps(
        st,
        &sc("queue-answered", n, "6403", &QUEUES[2].1, &next_caller()),
        Some("answered"),
    )
    .await?;
    register(st, 2001, 12).await?;
    if extra > 0 {
        register(st, 3000, extra).await?;
    }
    Ok(())
}

fn out(name: &str) -> PathBuf {
    let dir = std::env::var_os("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs"));
    std::fs::create_dir_all(&dir).expect("the screenshots' directory");
    dir.join(name)
}

/// Sizes the viewport to `w` x `h` and takes the picture into `name`.
pub(crate) async fn shot(b: &Browser, w: u32, h: u32, name: &str) {
    let chrome: u32 = b
        .js("return window.outerHeight - window.innerHeight;", vec![])
        .await
        .expect("the window's chrome");
    b.client
        .set_window_size(w, h + chrome)
        .await
        .expect("resizing");
    wait_for(
        "the viewport's size",
        || b.js::<(u32, u32)>("return [window.innerWidth, window.innerHeight];", vec![]),
        |(iw, ih)| *ih == h && iw.abs_diff(w) < 20,
    )
    .await;
    // Let layout and the ticking settle.
    let before: String = b
        .js("return String(Date.now());", vec![])
        .await
        .unwrap_or_default();
    wait_for(
        "a second to pass",
        || b.js::<String>("return String(Date.now());", vec![]),
        |now| now.parse::<u64>().unwrap_or(0) >= before.parse::<u64>().unwrap_or(0) + 1200,
    )
    .await;
    let png = b.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = out(name);
    std::fs::write(&path, &png).expect("writing the screenshot");
    eprintln!("screenshot written to {}", path.display());
}

#[tokio::test]
#[ignore = "writes docs/queues-*.png, docs/wallboard.png, docs/board-compact.png: `just screenshot-callcentre`"]
async fn screenshot_callcentre() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    scene(&s, 400).await?;
    let t = token(&s, "lobby-tv").await?;
    let url = s.board().url();
    let b = Browser::start().await;
    b.login(&url, OPERATOR.0, OPERATOR.1).await;
    b.wait_attr("#connection", "data-state", "live").await;
    wait_for(
        "four queues and the wait in 6402 past 20 s",
        || async {
            let n = b.count(".queue-card").await;
            let w = b
                .attr(".queue-card[data-queue='6402']", "data-longest-wait")
                .await?
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            Ok((n, w))
        },
        |(n, w)| *n == 4 && *w > 21,
    )
    .await;
    for (w, h, name) in [(1280, 900, "queues-1280.png"), (390, 844, "queues-390.png")] {
        b.client.set_window_size(w, h).await?;
        b.js::<()>("window.scrollTo(0, 0);", vec![]).await?;
        if w < 600 {
            b.js::<()>(
                "document.getElementById('callcentre').scrollIntoView();",
                vec![],
            )
            .await?;
        }
        shot(&b, w, h, name).await;
    }
    b.js::<()>("window.scrollTo(0, 0);", vec![]).await?;
    b.click("[data-action=density]").await;
    b.wait_attr("[data-action=density]", "aria-pressed", "true")
        .await;
    shot(&b, 1920, 1080, "board-compact.png").await;

    b.goto(&format!("{url}/wallboard#token={t}")).await;
    b.wait_attr("#wb-status", "data-state", "live").await;
    shot(&b, 1920, 1080, "wallboard.png").await;
    b.close().await;
    Ok(())
}
