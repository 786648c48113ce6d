//! Hanging up from the board, through the phone systems' APIs, over HTTP:
//! the real ingest, worker and board against FAKE Yeastar and Dialpad APIs
//! (`fake_pbx`), which report each hang-up back through signed webhooks as
//! the real systems do. Covered: the end-to-end loop (the card goes online
//! through the fake's BYE), the Yeastar token flow (one login for many
//! hang-ups, refresh before expiry, a new login after an invalid-token
//! answer and once the refresh token has expired), calls already ended,
//! sources without API settings and boards without the key, wrong
//! credentials and PBX errors shown verbatim, viewers and foreign origins
//! refused, one action per call at a time, timeouts, unreachable APIs
//! (and no retry once a request may have arrived), Dialpad's bearer key,
//! and the audit of every outcome (`worker audit`).

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Board, Counter, Stack};
use traffic::scenario;

use crate::fake_pbx::{self, Dialpad, Pbx, BAD_LOGIN, CLIENT_ID, CLIENT_SECRET, DIALPAD_KEY};
use crate::helpers::{call, http, login, stack, stack_with, OPERATOR, PBX_SECRET, VIEWER, WAIT};

pub(crate) const CALLER: &str = "+15555550199";
pub(crate) const LONG: Duration = Duration::from_secs(3600);
const OK_TEXT: &str = "hang-up requested; the card changes when the phone system reports it";

/// `worker source set-api SOURCE --base-url URL` with `stdin`; must succeed.
pub(crate) async fn set_api(s: &Stack, source: &str, url: &str, stdin: &str) -> String {
    testkit::worker_ok_stdin(
        &s.db.url,
        &["source", "set-api", source, "--base-url", url],
        stdin,
    )
    .await
    .expect("set-api")
}

/// The Yeastar credentials as `set-api` reads them.
pub(crate) fn yeastar_stdin(id: &str, secret: &str) -> String {
    format!("{id}\n{secret}\n")
}

/// A fake PBX reporting to the stack's ingest for `pbx`, set up as its API.
pub(crate) async fn pbx_for(s: &Stack, access: Duration, refresh: Duration) -> Pbx {
    let pbx = Pbx::start(access, refresh, s.ingest().authority(), "pbx", PBX_SECRET).await;
    set_api(
        s,
        "pbx",
        pbx.url(),
        &yeastar_stdin(CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    pbx
}

/// Starts call `call_id` from the caller to `ext` (ringing) and registers
/// it with the fake PBX; waits for the ringing card. Returns the card's
/// (call id, leg id).
async fn ringing_call(
    s: &Stack,
    pbx: Option<&Pbx>,
    call_id: &str,
    ext: &str,
) -> anyhow::Result<(String, String)> {
    let steps = call(call_id, CALLER, ext);
    if let Some(p) = pbx {
        p.add_call(call_id, ext, &steps);
    }
    s.send("pbx", &steps[0].body).await?;
    s.wait_extension("pbx", ext, "ringing").await?;
    Ok(live_leg(s, "pbx", ext).await)
}

/// The (call id, leg id) on the card of `ext` of `source`, as the page
/// gets it.
pub(crate) async fn live_leg(s: &Stack, source: &str, ext: &str) -> (String, String) {
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let url = format!("{}/api/extensions?source={source}", s.board().url());
    let deadline = Instant::now() + WAIT;
    loop {
        let cards: Value = http()
            .get(&url)
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("GET /api/extensions")
            .json()
            .await
            .expect("JSON");
        let found = cards.as_array().into_iter().flatten().find_map(|c| {
            (c["number"] == ext && c["call"].is_object()).then(|| {
                (
                    c["call"]["call_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    c["call"]["leg_id"].as_str().unwrap_or_default().to_string(),
                )
            })
        });
        if let Some(f) = found {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "no live call on the card of {ext}: {cards}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /api/calls/{source}/{call}/hangup` `{"leg_id"}` with `cookie`
/// from `origin`. Returns the status and the JSON answer.
async fn hangup_from(
    board: &str,
    origin: &str,
    cookie: &str,
    source: &str,
    call_id: &str,
    leg_id: &str,
) -> (u16, Value) {
    let r = http()
        .post(format!("{board}/api/calls/{source}/{call_id}/hangup"))
        .header("Origin", origin)
        .header("Cookie", cookie)
        .json(&serde_json::json!({ "leg_id": leg_id }))
        .send()
        .await
        .expect("hangup request");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// [`hangup_from`] the board's own origin.
async fn hangup(
    board: &str,
    cookie: &str,
    source: &str,
    call_id: &str,
    leg_id: &str,
) -> (u16, Value) {
    hangup_from(board, board, cookie, source, call_id, leg_id).await
}

/// Audit rows with `outcome` (and `extra` SQL conditions).
pub(crate) async fn audited(s: &Stack, outcome: &str, extra: &str) -> i64 {
    s.db.count_where(Counter::Actions, &format!("outcome = '{outcome}' {extra}"))
        .await
        .expect("audit count")
}

pub(crate) fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

// ------------------------------------------------------------------ Yeastar

#[tokio::test]
async fn an_operator_hangs_up_and_the_pbx_bye_turns_the_card_online() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let pbx = pbx_for(&s, Duration::from_secs(1800), Duration::from_secs(86_400)).await;
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let (call_id, leg_id) = ringing_call(&s, Some(&pbx), "1790000201.1", "2002").await?;
    assert_eq!(
        leg_id, "PJSIP/2002-1790000201.1",
        "Yeastar legs are their channel"
    );

    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], OK_TEXT);
    assert_eq!(
        pbx.hung_up(),
        vec![leg_id.clone()],
        "the leg's channel_id was sent"
    );
    // The fake PBX's signed BYE and CDR end the call on the board.
    s.wait_extension("pbx", "2002", "online").await?;
    s.db.wait_count(
        WAIT,
        Counter::Calls,
        "call_id = '1790000201.1' AND status = 'ended'",
        1,
    )
    .await?;
    assert_eq!(pbx.count(&pbx.logins), 1);
    assert_eq!(
        pbx.count(&pbx.bad_user_agent),
        0,
        "User-Agent: OpenAPI every time"
    );
    assert_eq!(
        audited(
            &s,
            "ok",
            &format!("AND user_name = 'olivia' AND source = 'pbx' AND call_id = '{call_id}' AND leg_id = '{leg_id}' AND channel_id = '{leg_id}' AND action = 'hangup' AND provider_answer LIKE '%errcode 0%' AND duration_ms >= 0")
        )
        .await,
        1
    );

    // Again, now that the call has ended: 409, audited, the PBX not asked.
    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_of(&body), "the call has already ended");
    assert_eq!(audited(&s, "not_live", "").await, 1);
    assert_eq!(pbx.count(&pbx.hangup_calls), 1);

    // A call that is not on the board at all.
    let (status, body) = hangup(
        &s.board().url(),
        &cookie,
        "pbx",
        "1790000299.1",
        "PJSIP/2002-1790000299.1",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        audited(&s, "refused", "AND call_id = '1790000299.1'").await,
        1
    );

    // `worker audit` lists them newest first; --json too; --source filters.
    let out = testkit::worker_ok(&s.db.url, &["audit"])
        .await
        .expect("audit");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[1].contains("refused") && lines[1].contains("1790000299.1"),
        "{out}"
    );
    assert!(
        lines[2].contains("not_live") && lines[2].contains("the call has already ended"),
        "{out}"
    );
    assert!(
        lines[3].contains("olivia") && lines[3].contains(" ok ") && lines[3].contains(&leg_id),
        "{out}"
    );
    let json = testkit::worker_ok(&s.db.url, &["audit", "--json", "--limit", "2"])
        .await
        .expect("audit --json");
    let rows: Value = serde_json::from_str(&json).expect("JSON");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["outcome"], "refused");
    assert_eq!(rows[1]["outcome"], "not_live");
    assert_eq!(rows[1]["user_name"], "olivia");
    let none = testkit::worker_ok(&s.db.url, &["audit", "--source", "sales"])
        .await
        .expect("audit --source");
    assert!(none.contains("(no actions)"), "{none}");
    // Nothing the PBX gave or was given leaks into the audit.
    assert_eq!(
        s.db.count_where(
            Counter::Actions,
            &format!(
                "provider_answer LIKE '%fakeaccess%' OR provider_answer LIKE '%{CLIENT_SECRET}%'"
            )
        )
        .await?,
        0
    );
    Ok(())
}

#[tokio::test]
async fn tokens_one_login_refresh_before_expiry_and_login_again_when_invalid() -> anyhow::Result<()>
{
    let s = stack(&[]).await?;
    // Short lives, to see expiry: access 3 s (renewed with 1.5 s left).
    let pbx = pbx_for(&s, Duration::from_secs(3), LONG).await;
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let board = s.board().url();
    let exts = ["2001", "2002", "2003", "2004", "2005", "2006"];
    let mut legs = Vec::new();
    for (i, ext) in exts.iter().enumerate() {
        legs.push(ringing_call(&s, Some(&pbx), &format!("17900003{i:02}.1"), ext).await?);
    }
    let counts = |p: &Pbx| (p.count(&p.logins), p.count(&p.refreshes));
    let hang = |i: usize| {
        let (call_id, leg_id) = legs[i].clone();
        let (board, cookie) = (board.clone(), cookie.clone());
        async move {
            let (status, body) = hangup(&board, &cookie, "pbx", &call_id, &leg_id).await;
            assert_eq!(status, 200, "hang-up {i}: {body}");
        }
    };

    // Two hang-ups, one login.
    hang(0).await;
    hang(1).await;
    assert_eq!(counts(&pbx), (1, 0), "one login for many hang-ups");
    // With less than half its life left, the token is refreshed first.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    hang(2).await;
    assert_eq!(
        counts(&pbx),
        (1, 1),
        "refreshed before expiry, no new login"
    );
    // The PBX forgets every token (a restart): the hang-up is answered
    // "invalid token", the board logs in again and retries it once.
    pbx.set_lifetimes(Duration::from_secs(2), Duration::from_secs(2));
    pbx.revoke_tokens();
    let before = pbx.count(&pbx.hangup_calls);
    hang(3).await;
    assert_eq!(
        counts(&pbx),
        (2, 1),
        "a new login after the invalid-token answer"
    );
    assert_eq!(
        pbx.count(&pbx.hangup_calls),
        before + 2,
        "the hang-up retried once"
    );
    // Both tokens expired: a new login (refreshing is pointless).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    hang(4).await;
    assert_eq!(
        counts(&pbx),
        (3, 1),
        "a new login once the refresh token expired"
    );
    hang(5).await;
    assert_eq!(counts(&pbx), (3, 1));
    assert_eq!(pbx.count(&pbx.bad_user_agent), 0);
    assert_eq!(pbx.hung_up().len(), 6);
    assert_eq!(audited(&s, "ok", "").await, 6);
    for ext in exts {
        s.wait_extension("pbx", ext, "online").await?;
    }
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_and_pbx_errors_are_shown_verbatim() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let pbx = Pbx::start(
        Duration::from_secs(1800),
        LONG,
        s.ingest().authority(),
        "pbx",
        PBX_SECRET,
    )
    .await;
    set_api(
        &s,
        "pbx",
        pbx.url(),
        &yeastar_stdin(CLIENT_ID, "not-the-secret-0123456789"),
    )
    .await;
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let (call_id, leg_id) = ringing_call(&s, Some(&pbx), "1790000401.1", "2002").await?;

    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 502, "{body}");
    let e = error_of(&body);
    assert!(
        e.contains(BAD_LOGIN.1)
            && e.contains("errcode 10003")
            && e.contains("worker source set-api pbx"),
        "{e}"
    );
    assert_eq!(
        audited(
            &s,
            "provider_error",
            "AND provider_answer = 'get_token: errcode 10003: INVALID CLIENT ID OR CLIENT SECRET'"
        )
        .await,
        1
    );
    assert_eq!(
        pbx.count(&pbx.hangup_calls),
        0,
        "no hang-up without a token"
    );
    // Clicking again does not log in again with the same settings (the PBX
    // blocks an address after a few failed logins): the same answer.
    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 502, "{body}");
    let e = error_of(&body);
    assert!(
        e.contains(BAD_LOGIN.1) && e.contains("not tried again"),
        "{e}"
    );
    assert_eq!(pbx.count(&pbx.logins), 1, "one refused login, not two");
    assert_eq!(
        audited(&s, "provider_error", "AND provider_answer LIKE 'get_token not sent: refused % s ago (get_token: errcode 10003: %'").await,
        1
    );

    // The right credentials; the PBX now refuses hang-ups with an error of
    // its own, markup and all: shown as is (the page puts it in textContent).
    set_api(
        &s,
        "pbx",
        pbx.url(),
        &yeastar_stdin(CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    let msg = "INVALID PARAMETER <b>channel_id</b> & \"more\"";
    pbx.fail_hangups(Some((10003, msg)));
    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        error_of(&body),
        format!("The PBX refused the hang-up: {msg} (errcode 10003)")
    );
    assert_eq!(
        audited(
            &s,
            "provider_error",
            &format!(
                "AND provider_answer = 'call/hangup: errcode 10003: {}'",
                msg.replace('\'', "''")
            )
        )
        .await,
        1
    );
    assert_eq!(pbx.count(&pbx.hangup_calls), 1, "an error is not retried");
    assert_eq!(
        pbx.count(&pbx.logins),
        2,
        "new settings: a new login at once"
    );
    // The call is still live.
    s.wait_extension("pbx", "2002", "ringing").await?;
    Ok(())
}

#[tokio::test]
async fn no_api_settings_or_no_key_explain_why() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let (call_id, leg_id) = ringing_call(&s, None, "1790000501.1", "2002").await?;
    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        error_of(&body),
        "hang-up is not set up for source pbx: an administrator gives its API credentials with `worker source set-api pbx`"
    );
    assert_eq!(audited(&s, "no_api", "").await, 1);

    // Set up, but this board runs without the key that opens them.
    let pbx = pbx_for(&s, Duration::from_secs(1800), LONG).await;
    let keyless = Board::start_with_env(&s.db.url, &[], &[("SWITCHBOARD_SECRETS_KEY", "")])
        .await
        .expect("a board without the key");
    let r = keyless
        .admin_client()
        .request("GET", "/readyz", &[], b"")
        .await
        .expect("readyz");
    let ready: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(ready["actions"], false, "{}", r.text());
    let cookie2 = login(&keyless.url(), OPERATOR.0, OPERATOR.1).await;
    let (status, body) = hangup(&keyless.url(), &cookie2, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        error_of(&body).contains("SWITCHBOARD_SECRETS_KEY"),
        "{body}"
    );
    assert_eq!(audited(&s, "no_api", "").await, 2);
    assert_eq!(pbx.count(&pbx.logins), 0);

    // Cleared settings: back to "not set up".
    testkit::worker_ok(&s.db.url, &["source", "clear-api", "pbx"])
        .await
        .expect("clear-api");
    let (status, body) = hangup(&s.board().url(), &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("not set up"), "{body}");
    assert_eq!(audited(&s, "no_api", "").await, 3);
    Ok(())
}

#[tokio::test]
async fn viewers_and_foreign_origins_cannot_hang_up() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let pbx = pbx_for(&s, Duration::from_secs(1800), LONG).await;
    let (call_id, leg_id) = ringing_call(&s, Some(&pbx), "1790000601.1", "2002").await?;
    let board = s.board().url();
    let viewer = login(&board, VIEWER.0, VIEWER.1).await;
    let (status, body) = hangup(&board, &viewer, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_of(&body), "only operators may hang up calls");
    assert_eq!(
        audited(
            &s,
            "refused",
            "AND user_name = 'victor' AND provider_answer = 'only operators may hang up calls'"
        )
        .await,
        1
    );
    let operator = login(&board, OPERATOR.0, OPERATOR.1).await;
    let (status, _) = hangup_from(
        &board,
        "https://evil.example",
        &operator,
        "pbx",
        &call_id,
        &leg_id,
    )
    .await;
    assert_eq!(status, 403, "a foreign origin");
    // Malformed requests.
    let (status, _) = hangup(&board, &operator, "PBX", &call_id, &leg_id).await;
    assert_eq!(status, 400);
    let (status, _) = hangup(&board, &operator, "pbx", &call_id, "").await;
    assert_eq!(status, 400);
    assert_eq!(pbx.count(&pbx.hangup_calls), 0, "the PBX was never asked");
    assert_eq!(pbx.count(&pbx.logins), 0);
    s.wait_extension("pbx", "2002", "ringing").await?;
    Ok(())
}

#[tokio::test]
async fn a_double_click_acts_once() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let pbx = pbx_for(&s, Duration::from_secs(1800), LONG).await;
    pbx.delay_hangups(Duration::from_millis(1500));
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let (call_id, leg_id) = ringing_call(&s, Some(&pbx), "1790000701.1", "2002").await?;
    let board = s.board().url();
    let first = hangup(&board, &cookie, "pbx", &call_id, &leg_id);
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        hangup(&board, &cookie, "pbx", &call_id, &leg_id).await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(first, second);
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(s2, 409, "{b2}");
    assert_eq!(
        error_of(&b2),
        "an action on this call is already in progress"
    );
    assert_eq!(pbx.count(&pbx.hangup_calls), 1);
    assert_eq!(audited(&s, "ok", "").await, 1);
    assert_eq!(
        audited(
            &s,
            "refused",
            "AND provider_answer = 'an action on this call is already in progress'"
        )
        .await,
        1
    );
    s.wait_extension("pbx", "2002", "online").await?;
    Ok(())
}

#[tokio::test]
async fn a_silent_pbx_times_out_and_an_unreachable_one_is_not_retried_blindly() -> anyhow::Result<()>
{
    let s = stack(&["--action-timeout", "1s"]).await?;
    let pbx = pbx_for(&s, Duration::from_secs(1800), LONG).await;
    pbx.delay_hangups(Duration::from_secs(5));
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    // Not registered with the fake: its late answer ends nothing.
    let (call_id, leg_id) = ringing_call(&s, None, "1790000801.1", "2002").await?;
    let board = s.board().url();
    let t = Instant::now();
    let (status, body) = hangup(&board, &cookie, "pbx", &call_id, &leg_id).await;
    let took = t.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(
        error_of(&body).contains("did not answer within 1s"),
        "{body}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    assert_eq!(audited(&s, "timeout", "").await, 1);

    // Nothing listens: "unreachable", quickly.
    let closed = testkit::free_port().expect("a free port");
    set_api(
        &s,
        "pbx",
        &format!("http://127.0.0.1:{closed}"),
        &yeastar_stdin(CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    let t = Instant::now();
    let (status, body) = hangup(&board, &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_of(&body).contains("cannot reach the phone system"),
        "{body}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(audited(&s, "unreachable", "").await, 1);

    // A server that takes the request and closes without answering: the
    // request may have arrived, so it is not sent again.
    let mute = fake_pbx::closes_without_answering().await;
    set_api(
        &s,
        "pbx",
        &mute.url,
        &yeastar_stdin(CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    let (status, body) = hangup(&board, &cookie, "pbx", &call_id, &leg_id).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        mute.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no retry once the request may have reached the phone system"
    );
    assert_eq!(audited(&s, "unreachable", "").await, 2);
    s.wait_extension("pbx", "2002", "ringing").await?;
    Ok(())
}

// ------------------------------------------------------------------ Dialpad

#[tokio::test]
async fn dialpad_hangs_up_with_the_api_key_and_its_hangup_event_ends_the_card() -> anyhow::Result<()>
{
    const SALES_SECRET: &str = "sales-secret-0123456789abcdef012";
    let s = stack_with(&[], |b| b.dialpad("sales", SALES_SECRET)).await?;
    let dp = Dialpad::start(s.ingest().authority(), "sales", SALES_SECRET).await;
    let out = testkit::worker_ok_stdin(
        &s.db.url,
        &["source", "set-api", "sales", "--base-url", dp.url()],
        &format!("{DIALPAD_KEY}\n"),
    )
    .await
    .expect("set-api");
    assert!(!out.contains(DIALPAD_KEY), "{out}");

    let leg: u64 = 9184732650918123;
    let t0 = chrono::Utc::now().timestamp_millis() - 20_000;
    let steps = scenario::dialpad_inbound(leg, 302, "Tomás Reyes", "+442079460958", t0);
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
    let (call_id, leg_id) = live_leg(&s, "sales", "302").await;
    assert_eq!(leg_id, leg.to_string());
    let cookie = login(&s.board().url(), OPERATOR.0, OPERATOR.1).await;
    let (status, body) = hangup(&s.board().url(), &cookie, "sales", &call_id, &leg_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], OK_TEXT);
    let seen = dp.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(
            "PUT".to_string(),
            format!("/api/v2/call/{leg}/actions/hangup"),
            format!("Bearer {DIALPAD_KEY}")
        )]
    );
    assert_eq!(dp.hung_up(), vec![leg.to_string()]);
    s.wait_extension("sales", "302", "online").await?;
    assert_eq!(
        audited(
            &s,
            "ok",
            "AND source = 'sales' AND channel_id IS NULL AND provider_answer LIKE 'HTTP 200 %'"
        )
        .await,
        1
    );

    // A wrong key: Dialpad's own message.
    let leg2: u64 = 9184732650918124;
    let steps2 = scenario::dialpad_inbound(leg2, 303, "Priya Natarajan", "+442079460959", t0);
    s.send("sales", &steps2[0].body).await?;
    let (call2, leg2s) = live_leg(&s, "sales", "303").await;
    testkit::worker_ok_stdin(
        &s.db.url,
        &["source", "set-api", "sales", "--base-url", dp.url()],
        "a-wrong-key-0123456789\n",
    )
    .await
    .expect("set-api");
    let (status, body) = hangup(&s.board().url(), &cookie, "sales", &call2, &leg2s).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        error_of(&body),
        "Dialpad refused the hang-up: Invalid API key (HTTP 401)"
    );
    assert_eq!(
        audited(
            &s,
            "provider_error",
            "AND source = 'sales' AND provider_answer LIKE 'HTTP 401 %'"
        )
        .await,
        1
    );
    Ok(())
}
