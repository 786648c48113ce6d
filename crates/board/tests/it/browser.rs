//! The board in a real browser: headless chromium logs in through the
//! form, watches cards change colour and words as webhooks arrive, and
//! converges after the board restarts. `screenshot_mid_call` (ignored; `just
//! screenshot`) takes the picture in docs/board.png.

use std::path::PathBuf;

use testkit::{Counter, Stack};
use traffic::scenario::{self, Member, Step};

use crate::fake_pbx::{Pbx, CLIENT_ID, CLIENT_SECRET};
use crate::helpers::{call, stack, stack_with, OPERATOR, PBX_SECRET, VIEWER};
use crate::webdriver::{wait_for, Browser, CardView};

const CALLER: &str = "+15555550123";

/// The step labelled `label` of `steps`.
fn step<'a>(steps: &'a [Step], label: &str) -> &'a Step {
    steps
        .iter()
        .find(|s| s.label == label)
        .unwrap_or_else(|| panic!("no step {label}"))
}

/// The hue (degrees, 0-360) and saturation (0-1) of an RGB colour.
fn hue_sat([r, g, b]: [f64; 3]) -> (f64, f64) {
    let (r, g, b) = (r / 255.0, g / 255.0, b / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    if d == 0.0 {
        return (0.0, 0.0);
    }
    let h = if max == r {
        60.0 * (((g - b) / d).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    let l = (max + min) / 2.0;
    let s = d / (1.0 - (2.0 * l - 1.0).abs());
    (h, s)
}

/// Whether the colour is clearly of the hue range `lo..=hi` (a saturated
/// colour, not a grey).
fn hue_in(rgb: [f64; 3], lo: f64, hi: f64) -> bool {
    let (h, s) = hue_sat(rgb);
    s > 0.4 && (lo..=hi).contains(&h)
}

/// Ringing: orange (#f59e0b is 38°).
fn orange(c: &CardView) -> bool {
    hue_in(c.background, 20.0, 50.0) && c.background[0] > 200.0 && c.background[2] < 100.0
}
/// In call: purple (#7c3aed is 262°).
fn purple(c: &CardView) -> bool {
    hue_in(c.background, 250.0, 290.0) && c.background[2] > 150.0
}
/// Online: green (#15803d is 142°).
fn green(c: &CardView) -> bool {
    hue_in(c.background, 110.0, 160.0) && c.background[1] > 90.0
}

/// `mm:ss`.
fn is_mm_ss(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
}

#[test]
fn hues_of_the_board_colours() {
    let card = |background| CardView {
        status: String::new(),
        status_text: String::new(),
        name: String::new(),
        party: String::new(),
        duration: String::new(),
        background,
        hangup: false,
    };
    assert!(orange(&card([245.0, 158.0, 11.0])));
    assert!(purple(&card([124.0, 58.0, 237.0])));
    assert!(green(&card([21.0, 128.0, 61.0])));
    let grey = card([43.0, 49.0, 58.0]);
    assert!(!orange(&grey) && !purple(&grey) && !green(&grey));
    assert!(is_mm_ss("00:07") && !is_mm_ss("0:07") && !is_mm_ss(""));
}

#[tokio::test]
async fn operator_watches_a_call() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let b = Browser::start().await;
    b.login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    b.wait_attr("body", "data-role", "operator").await;
    b.wait_attr("#connection", "data-state", "live").await;
    b.click("[data-action=enable-sound]").await;
    b.wait_attr("[data-action=enable-sound]", "aria-pressed", "true")
        .await;
    assert_eq!(
        b.attr("#board", "data-alerts")
            .await
            .expect("alerts")
            .as_deref(),
        Some("0")
    );

    let steps = call("1790000001.1", CALLER, "2002");
    s.send("pbx", &step(&steps, "ringing").body).await?;
    let c = b
        .wait_card("pbx", "2002", "ringing", |c| c.status == "ringing")
        .await;
    assert_eq!(c.status_text, "Ringing");
    assert!(c.party.contains("15555550123"), "party {:?}", c.party);
    assert!(
        c.hangup,
        "an operator sees a hang-up button on a ringing card"
    );
    b.wait_card("pbx", "2002", "orange background", orange)
        .await;

    s.send("pbx", &step(&steps, "answered").body).await?;
    let c = b
        .wait_card("pbx", "2002", "in call", |c| c.status == "incall")
        .await;
    assert_eq!(c.status_text, "In call");
    assert!(c.party.contains("15555550123"), "party {:?}", c.party);
    assert!(
        c.hangup,
        "an operator sees a hang-up button on a card in call"
    );
    b.wait_card("pbx", "2002", "purple background", purple)
        .await;
    b.wait_attr("#board", "data-alerts", "1").await;
    let first = b
        .wait_card("pbx", "2002", "a mm:ss duration", |c| is_mm_ss(&c.duration))
        .await
        .duration;
    b.wait_card("pbx", "2002", "the duration ticking", |c| {
        is_mm_ss(&c.duration) && c.duration != first
    })
    .await;

    s.send("pbx", &step(&steps, "bye").body).await?;
    let c = b
        .wait_card("pbx", "2002", "online", |c| c.status == "online")
        .await;
    assert_eq!(c.status_text, "Online");
    assert!(!c.hangup, "no hang-up button once the call is over");
    assert_eq!(c.party, "", "no party once the call is over");
    assert_eq!(c.duration, "", "no duration once the call is over");
    b.wait_card("pbx", "2002", "green background", green).await;
    assert_eq!(
        b.attr("#board", "data-alerts")
            .await
            .expect("alerts")
            .as_deref(),
        Some("1"),
        "hanging up is not an alert"
    );
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn viewer_sees_no_hangup_button() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let b = Browser::start().await;
    b.login(&s.board().url(), VIEWER.0, VIEWER.1).await;
    b.wait_attr("body", "data-role", "viewer").await;
    b.wait_attr("#connection", "data-state", "live").await;
    let steps = call("1790000002.1", CALLER, "2002");
    s.send("pbx", &step(&steps, "ringing").body).await?;
    let c = b
        .wait_card("pbx", "2002", "ringing", |c| c.status == "ringing")
        .await;
    assert!(c.party.contains("15555550123"), "party {:?}", c.party);
    assert!(!c.hangup);
    assert_eq!(b.count("[data-action=hangup]").await, 0);
    s.send("pbx", &step(&steps, "answered").body).await?;
    b.wait_card("pbx", "2002", "in call", |c| c.status == "incall")
        .await;
    assert_eq!(b.count("[data-action=hangup]").await, 0);
    // The page has no button; the POST it could still make is refused.
    let status: u16 = b
        .js(
            "return fetch('/api/calls/pbx/1790000002.1/hangup', {method: 'POST', \
               headers: {'Content-Type': 'application/json'}, credentials: 'same-origin', \
               body: JSON.stringify({leg_id: 'PJSIP/2002-1790000002.1'})}).then((r) => r.status);",
            vec![],
        )
        .await
        .expect("a fetch from the page");
    assert_eq!(status, 403, "a viewer's hang-up is refused");
    b.close().await;
    Ok(())
}

/// The card selector of extension `ext` of `pbx`.
fn hangup_button(ext: &str) -> String {
    format!("#cards .card[data-source='pbx'][data-extension='{ext}'] button[data-action=hangup]")
}

#[tokio::test]
async fn operator_hangs_up_a_ringing_call_and_sees_the_pbx_errors() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    // A FAKE Yeastar OpenAPI: it reports each hang-up back through the
    // signed BYE and CDR webhooks, as a real PBX does.
    let pbx = Pbx::start(
        std::time::Duration::from_secs(1800),
        std::time::Duration::from_secs(86_400),
        s.ingest().authority(),
        "pbx",
        PBX_SECRET,
    )
    .await;
    testkit::worker_ok_stdin(
        &s.db.url,
        &["source", "set-api", "pbx", "--base-url", pbx.url()],
        &format!("{CLIENT_ID}\n{CLIENT_SECRET}\n"),
    )
    .await
    .expect("set-api");
    let b = Browser::start().await;
    b.login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    b.wait_attr("#connection", "data-state", "live").await;

    let steps = call("1790000901.1", CALLER, "2002");
    let channel = pbx.add_call("1790000901.1", "2002", &steps);
    s.send("pbx", &step(&steps, "ringing").body).await?;
    b.wait_card("pbx", "2002", "ringing with a button", |c| {
        c.status == "ringing" && c.hangup && orange(c)
    })
    .await;
    b.click(&hangup_button("2002")).await;
    let asked = b.accept_confirm().await;
    assert!(
        asked.starts_with("Hang up the call of extension 2002") && asked.contains("15555550123"),
        "{asked}"
    );
    wait_for(
        "the notice of the request",
        || b.text("#notice"),
        |t| {
            t.as_deref()
                == Some("hang-up requested; the card changes when the phone system reports it")
        },
    )
    .await;
    let c = b
        .wait_card("pbx", "2002", "green once the PBX says BYE", |c| {
            c.status == "online" && green(c)
        })
        .await;
    assert!(!c.hangup);
    assert_eq!(pbx.hung_up(), vec![channel]);

    // The PBX refuses: its message shows, as text, and the card stays.
    let msg = "INVALID PARAMETER <i>channel_id</i>";
    pbx.fail_hangups(Some((10003, msg)));
    let steps = call("1790000902.1", CALLER, "2003");
    pbx.add_call("1790000902.1", "2003", &steps);
    s.send("pbx", &step(&steps, "ringing").body).await?;
    b.wait_card("pbx", "2003", "ringing with a button", |c| {
        c.status == "ringing" && c.hangup
    })
    .await;
    b.click(&hangup_button("2003")).await;
    b.accept_confirm().await;
    let want = format!("The PBX refused the hang-up: {msg} (errcode 10003)");
    wait_for(
        "the PBX's error in the notice",
        || b.text("#notice"),
        |t| t.as_deref() == Some(want.as_str()),
    )
    .await;
    assert_eq!(
        b.count("#notice i").await,
        0,
        "shown as text, never as markup"
    );
    // The button is back (not pending), on a card still ringing.
    wait_for(
        "the button usable again",
        || {
            b.js::<bool>(
                "const e = document.querySelector(arguments[0]); return !!e && !e.disabled;",
                vec![serde_json::json!(hangup_button("2003"))],
            )
        },
        |ok| *ok,
    )
    .await;
    let c = b.card("pbx", "2003").await.expect("card").expect("a card");
    assert_eq!(c.status, "ringing");
    assert_eq!(
        s.db.count_where(Counter::Actions, "outcome = 'provider_error'")
            .await?,
        1
    );
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn board_restart_mid_call_converges() -> anyhow::Result<()> {
    let mut s = stack(&[]).await?;
    let b = Browser::start().await;
    b.login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    b.wait_attr("#connection", "data-state", "live").await;
    let steps = call("1790000003.1", CALLER, "2002");
    s.send("pbx", &step(&steps, "ringing").body).await?;
    b.wait_card("pbx", "2002", "ringing", |c| c.status == "ringing")
        .await;
    s.send("pbx", &step(&steps, "answered").body).await?;
    b.wait_card("pbx", "2002", "in call", |c| c.status == "incall")
        .await;

    s.board_mut().proc.kill().await.expect("killing the board");
    // The page notices that its stream is gone.
    wait_for(
        "the page to leave the live state",
        || b.attr("#connection", "data-state"),
        |v| v.as_deref() != Some("live"),
    )
    .await;
    s.send("pbx", &step(&steps, "bye").body).await?;
    s.wait_extension("pbx", "2002", "online").await?;
    // The card still shows what the page had.
    let c = b.card("pbx", "2002").await.expect("card").expect("a card");
    assert_eq!(c.status, "incall", "nothing can have told the page");

    // The board restarts on the same port.
    s.restart_board().await?;
    let c = b
        .wait_card("pbx", "2002", "online after the restart", |c| {
            c.status == "online"
        })
        .await;
    assert_eq!(c.status_text, "Online");
    assert!(!c.hangup);
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_card("pbx", "2002", "green background", green).await;
    b.close().await;
    Ok(())
}

/// Posts a signed Yeastar envelope of `event` with `msg` for `pbx`.
async fn yeastar_event(s: &Stack, event: i64, msg: serde_json::Value) -> anyhow::Result<()> {
    s.send("pbx", &scenario::yeastar_envelope(event, &msg))
        .await?;
    Ok(())
}

/// Posts every step of `steps` for `pbx`.
async fn send_all(s: &Stack, steps: &[Step]) -> anyhow::Result<()> {
    for st in steps {
        s.send("pbx", &st.body).await?;
    }
    Ok(())
}

/// The Dialpad source of the screenshot, and its secret.
const SALES: (&str, &str) = ("sales", "sales-secret-0123456789abcdef012");

/// Fills the board of `s` as a busy afternoon looks: finished calls for
/// the recent calls table, registrations and presence on `pbx`, named
/// Dialpad agents on `sales` (one in a call), and live calls on `pbx` (two
/// in call, one of them on hold, two ringing, one extension offline).
async fn busy_afternoon(s: &Stack) -> anyhow::Result<()> {
    let exts: Vec<String> = (2001..=2008).map(|n| n.to_string()).collect();
    let e = |i: usize| exts[i].as_str();

    // Finished calls, for the recent calls table.
    for (n, kind, who) in [
        (11, "inbound-answered", [4, 5, 6]),
        (12, "inbound-missed", [5, 4, 6]),
        (13, "outbound", [7, 4, 5]),
        (14, "internal", [4, 7, 5]),
        (15, "hold-resume", [0, 4, 5]),
        (16, "inbound-missed", [2, 4, 5]),
    ] {
        let who: Vec<String> = who.iter().map(|&i| exts[i].clone()).collect();
        let sc = scenario::yeastar(kind, n, &who).expect("a scenario");
        send_all(s, &sc.steps).await?;
    }
    // Registration and presence.
    for i in [0, 1, 2, 3, 4, 5, 7] {
        yeastar_event(
            s,
            30007,
            serde_json::json!({"extension": e(i), "kind": "Sip", "status": "Registered"}),
        )
        .await?;
    }
    yeastar_event(
        s,
        30007,
        serde_json::json!({"extension": e(6), "kind": "Sip", "status": "Unregistered"}),
    )
    .await?;
    for (i, p) in [
        (4, "away"),
        (5, "do_not_disturb"),
        (7, "lunch_break"),
        (0, "available"),
    ] {
        yeastar_event(
            s,
            30009,
            serde_json::json!({"extension": e(i), "status": p}),
        )
        .await?;
    }
    // Named Dialpad agents on a second source.
    let t0 = chrono::Utc::now().timestamp_millis();
    for (id, name, status) in [
        (301, "Marisol Okafor", "available"),
        (302, "Tomás Reyes", "available"),
        (303, "Priya Natarajan", "wrapup"),
    ] {
        let claims = serde_json::json!({
            "target": {"id": id.to_string(), "type": "user", "name": name},
            "on_duty_status": status,
            "event_timestamp": t0,
        });
        s.send(SALES.0, claims.to_string().as_bytes()).await?;
    }
    let dp = scenario::dialpad_inbound(
        9184732650918001,
        302,
        "Tomás Reyes",
        "+442079460958",
        t0 - 95_000,
    );
    for st in dp
        .iter()
        .filter(|s| s.label == "ringing" || s.label == "connected")
    {
        s.send(SALES.0, &st.body).await?;
    }

    // Live calls on pbx: two in call (one on hold), two ringing.
    let c1 = call("1790000101.1", "+15555550147", e(0));
    send_all(s, &c1[..2]).await?;
    let c2 = call("1790000102.1", "+15555550123", e(2));
    send_all(s, &c2[..3]).await?;
    let c3 = call("1790000103.1", "+15555550188", e(1));
    s.send("pbx", &c3[0].body).await?;
    let internal = scenario::yeastar_snapshot(
        30011,
        "1790000104.1",
        &[Member::Ext(e(7), "ALERT"), Member::Ext(e(3), "RING")],
    );
    s.send("pbx", &internal).await?;
    for (ext, status) in [
        (e(0), "incall"),
        (e(2), "incall"),
        (e(1), "ringing"),
        (e(3), "ringing"),
        (e(6), "offline"),
    ] {
        s.wait_extension("pbx", ext, status).await?;
    }
    Ok(())
}

/// Sizes the window of `b` to `width` (`SCREENSHOT_WIDTH`, default 1400
/// px; 390 is a phone) and to the whole page's height, recent calls
/// included, then takes the picture (PNG).
async fn whole_page_png(b: &Browser) -> Vec<u8> {
    let width: u32 = std::env::var("SCREENSHOT_WIDTH")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1400);
    b.client
        .set_window_size(width, 1000)
        .await
        .expect("resizing the window");
    let (content, chrome): (u32, u32) = b
        .js(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];",
            vec![],
        )
        .await
        .expect("the page's height");
    let height = content.clamp(600, 8000);
    b.client
        .set_window_size(width, height + chrome)
        .await
        .expect("resizing the window");
    wait_for(
        "the window to fit the page",
        || {
            b.js::<bool>(
                "return window.innerHeight >= document.documentElement.scrollHeight;",
                vec![],
            )
        },
        |fits| *fits,
    )
    .await;
    b.screenshot().await
}

/// A realistic board mid-call, as a PNG: `SCREENSHOT` or docs/board.png.
#[tokio::test]
#[ignore = "writes docs/board.png: run by `just screenshot`"]
async fn screenshot_mid_call() -> anyhow::Result<()> {
    let s = stack_with(&[], |b| b.dialpad(SALES.0, SALES.1)).await?;
    busy_afternoon(&s).await?;

    let b = Browser::start().await;
    b.login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    b.wait_attr("#connection", "data-state", "live").await;
    b.click("[data-action=enable-sound]").await;
    let c = b
        .wait_card("sales", "302", "in call", |c| c.status == "incall")
        .await;
    assert_eq!(c.name, "Tomás Reyes", "Dialpad names its users");
    for ext in ["2001", "2003"] {
        b.wait_card("pbx", ext, "in call", |c| c.status == "incall")
            .await;
    }
    b.wait_card("pbx", "2007", "offline", |c| c.status == "offline")
        .await;
    // Let the durations show a few seconds and the colours settle.
    b.wait_card("pbx", "2001", "a running duration", |c| {
        c.duration.as_str() >= "00:03" && purple(c)
    })
    .await;
    let png = whole_page_png(&b).await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = std::env::var_os("SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/board.png"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("the screenshot's directory");
    }
    std::fs::write(&path, &png).expect("writing the screenshot");
    eprintln!("screenshot written to {}", path.display());
    b.close().await;
    Ok(())
}
