//! Call control in a real browser (headless chromium over WebDriver):
//! dragging a ringing card onto another extension, the keyboard call
//! menu, a supervisor listening, presence and agent pause from the cards,
//! and each role seeing only its buttons. The phone system is the FAKE
//! PBX (`fake_pbx`, `fake_control`): the cards move only once its signed
//! events come back through ingest. `screenshot_call_control` (ignored;
//! `just screenshot`) takes the pictures in docs/.

use std::time::Duration;

use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::Locator;
use serde_json::json;
use testkit::Stack;
use traffic::scenario::yeastar_envelope;

use crate::control::{yeastar_call, yeastar_stack, SUPERVISOR};
use crate::fake_pbx::Pbx;
use crate::helpers::{OPERATOR, VIEWER, WAIT};
use crate::webdriver::{wait_for, Browser};

const ENTER: &str = "\u{e007}";
const ARROW_DOWN: &str = "\u{e015}";

/// The selector of the card of `ext` of `pbx`.
fn card(ext: &str) -> String {
    format!("#cards .card[data-source='pbx'][data-extension='{ext}']")
}

/// Makes extensions `exts` known to the board (registered, idle), and
/// agent 2002 a member of queue 6400.
async fn extensions(s: &Stack, exts: &[&str]) -> anyhow::Result<()> {
    for e in exts {
        let body = yeastar_envelope(
            30007,
            &json!({"extension": e, "kind": "sip", "status": "Registered", "registered_ip": "10.0.0.9"}),
        );
        s.send("pbx", &body).await?;
    }
    let agent = json!({"type": 30029, "sn": "3631A2124XXX",
        "msg": {"queue_number": "queue-6400", "agent_number": "2002", "status": "available", "reason": ""}});
    s.send("pbx", agent.to_string().as_bytes()).await?;
    for e in exts {
        s.wait_extension("pbx", e, "online").await?;
    }
    Ok(())
}

/// A Yeastar stack whose board knows 2002, 2003 and 2009, and a browser
/// logged in as `who`.
async fn setup(who: (&str, &str)) -> anyhow::Result<(Stack, Pbx, Browser)> {
    let (s, pbx) = yeastar_stack(&[]).await?;
    extensions(&s, &["2002", "2003", "2009"]).await?;
    let b = Browser::start().await;
    b.login(&s.board().url(), who.0, who.1).await;
    b.wait_attr("#connection", "data-state", "live").await;
    Ok((s, pbx, b))
}

/// Waits until the notice says `want`.
async fn notice(b: &Browser, want: &str) {
    wait_for(
        &format!("the notice {want:?}"),
        || b.text("#notice"),
        |t| t.as_deref() == Some(want),
    )
    .await;
}

/// Presses the left button on `from`, moves onto `to` in steps, and (when
/// `release`) lets go there: a person dragging with the mouse.
async fn drag(b: &Browser, from: &str, to: &str, release: bool) -> anyhow::Result<()> {
    let from = b.client.find(Locator::Css(from)).await?;
    let to = b.client.find(Locator::Css(to)).await?;
    let mut mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: from,
            duration: None,
            x: 0.0,
            y: -10.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(100)),
            x: 20.0,
            y: 10.0,
        })
        .then(PointerAction::MoveToElement {
            element: to,
            duration: Some(Duration::from_millis(300)),
            x: 0.0,
            y: -10.0,
        });
    if release {
        mouse = mouse.then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    }
    // The confirmation the drop opens may make the command report an
    // open dialog: the test accepts it next.
    let _ = b.client.perform_actions(mouse).await;
    Ok(())
}

#[tokio::test]
async fn dragging_a_ringing_card_onto_another_extension_transfers_the_call() -> anyhow::Result<()> {
    let (s, pbx, b) = setup(OPERATOR).await?;
    let (call_id, _) = yeastar_call(&s, &pbx, "1790002001.1", "2002", false).await?;
    b.wait_attr(&card("2002"), "data-draggable", "true").await;
    drag(&b, &card("2002"), &card("2003"), true).await?;
    let asked = b.accept_confirm().await;
    assert_eq!(
        asked,
        "Transfer the call of extension 2002 to extension 2003?"
    );
    notice(
        &b,
        "transfer requested; the card changes when the phone system reports it",
    )
    .await;
    // The PBX's 30013 then 30011 move the call.
    b.wait_card("pbx", "2003", "the transferred call", |c| {
        c.status == "incall"
    })
    .await;
    b.wait_card("pbx", "2002", "free again", |c| c.status == "online")
        .await;
    assert_eq!(pbx.control_seen()[0].0, "call/transfer");
    assert_eq!(pbx.control_seen()[0].1["number"], "2003");
    assert_eq!(
        b.attr(&card("2003"), "data-call-id").await?.as_deref(),
        Some(call_id.as_str())
    );
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn the_keyboard_call_menu_transfers_a_call() -> anyhow::Result<()> {
    let (s, pbx, b) = setup(OPERATOR).await?;
    yeastar_call(&s, &pbx, "1790002101.1", "2002", true).await?;
    let menu = format!("{} button[data-action=menu]", card("2002"));
    b.wait_attr(&menu, "aria-expanded", "false").await;
    b.js::<()>(
        "document.querySelector(arguments[0]).focus();",
        vec![json!(menu)],
    )
    .await?;
    b.client.active_element().await?.send_keys(ENTER).await?;
    b.wait_attr(&menu, "aria-expanded", "true").await;
    // Focus is on the first item; the arrows move it, round the list
    // (transfer, park, hold: no listen for an operator).
    let focused = || {
        b.js::<String>(
            "return document.activeElement.dataset.action || '';",
            vec![],
        )
    };
    assert_eq!(focused().await?, "transfer");
    b.client
        .active_element()
        .await?
        .send_keys(ARROW_DOWN)
        .await?;
    assert_eq!(focused().await?, "park");
    for _ in 0..2 {
        b.client
            .active_element()
            .await?
            .send_keys(ARROW_DOWN)
            .await?;
    }
    assert_eq!(focused().await?, "transfer");
    b.client.active_element().await?.send_keys(ENTER).await?;
    // The dialog: the number field has the focus; Enter sends.
    wait_for(
        "the transfer dialog's number field focused",
        || b.js::<String>("return document.activeElement.name || '';", vec![]),
        |n| n == "to",
    )
    .await;
    b.client
        .active_element()
        .await?
        .send_keys(&format!("2003{ENTER}"))
        .await?;
    notice(
        &b,
        "transfer requested; the card changes when the phone system reports it",
    )
    .await;
    b.wait_card("pbx", "2003", "the transferred call", |c| {
        c.status == "incall"
    })
    .await;
    b.wait_card("pbx", "2002", "free again", |c| c.status == "online")
        .await;
    assert_eq!(
        pbx.control_seen()[0].1,
        json!({"type": "blind", "channel_id": "PJSIP/trunk-inbound-1790002101.1", "number": "2003"})
    );
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn a_supervisor_listens_from_the_menu_and_pauses_an_agent() -> anyhow::Result<()> {
    let (s, pbx, b) = setup(SUPERVISOR).await?;
    testkit::worker_ok(&s.db.url, &["user", "set-extension", SUPERVISOR.0, "2009"]).await?;
    yeastar_call(&s, &pbx, "1790002201.1", "2002", true).await?;
    b.click(&format!("{} button[data-action=menu]", card("2002")))
        .await;
    b.click(&format!("{} button[data-action=listen]", card("2002")))
        .await;
    b.click("#action-dialog button[data-action=listen-send]")
        .await;
    notice(
        &b,
        "listen requested; the card changes when the phone system reports it",
    )
    .await;
    b.wait_card("pbx", "2009", "the supervisor's phone in the call", |c| {
        c.status == "incall"
    })
    .await;
    assert_eq!(pbx.control_seen()[0].1["monitor"], "2009");

    // Pause agent 2002 in queue 6400, with a reason.
    b.click(&format!("{} button[data-action=pause]", card("2002")))
        .await;
    let reason = b
        .client
        .find(Locator::Css("#action-dialog input[name=reason]"))
        .await?;
    reason.send_keys("coaching").await?;
    b.click("#action-dialog button[data-action=pause-send]")
        .await;
    notice(
        &b,
        "agent pause requested; the card changes when the phone system reports it",
    )
    .await;
    testkit::wait_until(WAIT, "agent 2002 paused", || async {
        Ok(s.db
            .count(
                "SELECT count(*) AS n FROM queue_agents WHERE agent = '2002' AND queue = '6400'
                   AND status = 'paused' AND reason = 'coaching'",
            )
            .await?
            == 1)
    })
    .await?;
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn presence_is_set_from_the_card() -> anyhow::Result<()> {
    let (_s, pbx, b) = setup(OPERATOR).await?;
    b.click(&format!("{} button[data-action=presence]", card("2003")))
        .await;
    let select = b
        .client
        .find(Locator::Css("#action-dialog select[name=status]"))
        .await?;
    select.select_by_value("lunch").await?;
    b.click("#action-dialog button[data-action=presence-send]")
        .await;
    // The PBX's 30009 changes the card.
    let presence = format!("{} [data-field=presence]", card("2003"));
    wait_for(
        "2003's presence on its card",
        || b.text(&presence),
        |t| t.as_deref() == Some("Lunch"),
    )
    .await;
    assert_eq!(
        pbx.control_seen()
            .last()
            .map(|(p, v)| (p.clone(), v.clone())),
        Some((
            "extension/update".to_string(),
            json!({"id": 101, "presence_status": "lunch"})
        ))
    );
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn viewers_and_operators_see_only_what_their_role_allows() -> anyhow::Result<()> {
    let (s, pbx, b) = setup(VIEWER).await?;
    yeastar_call(&s, &pbx, "1790002301.1", "2002", true).await?;
    let count = |sel: String| {
        let b = &b;
        async move { b.count(&sel).await }
    };
    b.wait_card("pbx", "2002", "in call", |c| c.status == "incall")
        .await;
    for a in [
        "menu", "transfer", "park", "hold", "listen", "presence", "pause",
    ] {
        assert_eq!(
            count(format!("#cards [data-action={a}]")).await,
            0,
            "viewer: {a}"
        );
    }
    assert_eq!(count(format!("{}[data-draggable]", card("2002"))).await, 0);

    // An operator: the call menu without listen; presence; no pause.
    b.client.delete_all_cookies().await?;
    b.login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    b.wait_attr(
        &format!("{} button[data-action=menu]", card("2002")),
        "aria-expanded",
        "false",
    )
    .await;
    for (a, n) in [
        ("transfer", 1),
        ("park", 1),
        ("hold", 1),
        ("listen", 0),
        ("pause", 0),
    ] {
        assert_eq!(
            count(format!("{} [data-action={a}]", card("2002"))).await,
            n,
            "operator: {a}"
        );
    }
    assert_eq!(count("#cards [data-action=presence]".into()).await, 3);
    // A supervisor: listen and pause too.
    b.client.delete_all_cookies().await?;
    b.login(&s.board().url(), SUPERVISOR.0, SUPERVISOR.1).await;
    b.wait_attr(
        &format!("{} button[data-action=pause]", card("2002")),
        "data-action",
        "pause",
    )
    .await;
    assert_eq!(
        count(format!("{} [data-action=listen]", card("2002"))).await,
        1
    );
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn an_attended_transfer_from_the_menu_consults_then_completes() -> anyhow::Result<()> {
    let (s, pbx, b) = setup(OPERATOR).await?;
    let (call_id, _) = yeastar_call(&s, &pbx, "1790002501.1", "2002", true).await?;
    b.click(&format!("{} button[data-action=menu]", card("2002")))
        .await;
    b.click(&format!("{} button[data-action=transfer]", card("2002")))
        .await;
    let to = b
        .client
        .find(Locator::Css("#action-dialog input[name=to]"))
        .await?;
    to.send_keys("2003").await?;
    b.client
        .find(Locator::Css("#action-dialog select[name=mode]"))
        .await?
        .select_by_value("attended")
        .await?;
    b.click("#action-dialog button[data-action=transfer-send]")
        .await;
    notice(
        &b,
        "attended transfer requested; the card changes when the phone system reports it",
    )
    .await;
    // The consult call: 2003 answers; 2002 may now show the consult call,
    // and still offers to complete the transfer.
    b.wait_card("pbx", "2003", "in the consult call", |c| {
        c.status == "incall"
    })
    .await;
    b.click(&format!(
        "{} button[data-action=transfer-complete]",
        card("2002")
    ))
    .await;
    notice(
        &b,
        "transfer's completion requested; the card changes when the phone system reports it",
    )
    .await;
    b.wait_card("pbx", "2002", "free after the join", |c| {
        c.status == "online"
    })
    .await;
    let c2003 = card("2003");
    wait_for(
        "2003 in the caller's call",
        || b.attr(&c2003, "data-call-id"),
        |id| id.as_deref() == Some(call_id.as_str()),
    )
    .await;
    let ops: Vec<String> = pbx
        .control_seen()
        .iter()
        .map(|(_, v)| {
            format!(
                "{}/{}",
                v["type"].as_str().unwrap_or(""),
                v["attended_operate"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(ops, ["attended/", "attended/complete"]);
    b.close().await;
    Ok(())
}

#[tokio::test]
async fn a_dialpad_card_offers_only_what_dialpad_can() -> anyhow::Result<()> {
    let (s, dp) = crate::control::dialpad::dialpad_stack(&[]).await?;
    crate::control::dialpad::connected(&s, &dp, 9184732650918401, 302).await?;
    let b = Browser::start().await;
    b.login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let c = "#cards .card[data-source='sales'][data-extension='302']";
    b.wait_attr(
        &format!("{c} button[data-action=menu]"),
        "aria-expanded",
        "false",
    )
    .await;
    b.click(&format!("{c} button[data-action=menu]")).await;
    for (a, n) in [
        ("transfer", 1),
        ("park", 0),
        ("hold", 0),
        ("listen", 0),
        ("presence", 1),
    ] {
        assert_eq!(b.count(&format!("{c} [data-action={a}]")).await, n, "{a}");
    }
    b.click(&format!("{c} button[data-action=transfer]")).await;
    let modes: Vec<String> = b
        .js(
            "return [...document.querySelectorAll('#action-dialog select[name=mode] option')].map((o) => o.value);",
            vec![],
        )
        .await?;
    assert_eq!(modes, ["blind"], "no attended transfer on Dialpad");
    b.close().await;
    Ok(())
}

#[tokio::test]
#[ignore = "writes docs/board-actions-*.png: run by `just screenshot`"]
async fn screenshot_call_control() -> anyhow::Result<()> {
    let (s, pbx, b) = setup(SUPERVISOR).await?;
    yeastar_call(&s, &pbx, "1790002401.1", "2002", true).await?;
    yeastar_call(&s, &pbx, "1790002402.1", "2003", false).await?;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    for (w, h, name) in [
        (1280, 800, "board-actions-menu.png"),
        (390, 844, "board-actions-menu-390.png"),
    ] {
        b.client.set_window_size(w, h).await?;
        b.click(&format!("{} button[data-action=menu]", card("2002")))
            .await;
        b.wait_attr(
            &format!("{} button[data-action=menu]", card("2002")),
            "aria-expanded",
            "true",
        )
        .await;
        std::fs::write(dir.join(name), b.screenshot().await)?;
        b.click("h1").await;
    }
    b.client.set_window_size(1280, 800).await?;
    drag(&b, &card("2003"), &card("2009"), false).await?;
    wait_for(
        "2009 highlighted as the drop target",
        || {
            b.js::<bool>(
                "return document.querySelector(arguments[0]).classList.contains('drop-target');",
                vec![json!(card("2009"))],
            )
        },
        |t| *t,
    )
    .await;
    std::fs::write(dir.join("board-actions-drag.png"), b.screenshot().await)?;
    b.close().await;
    Ok(())
}
