//! Call control from the board beyond the hang-up (issue 23): transfer
//! (blind, attended), park, hold, listen/whisper/barge, presence and agent
//! pause, through the real ingest, worker and board against the FAKE
//! phone systems (`fake_pbx`, `fake_control`), which check each request as
//! the provider documents it and answer with the signed events a real
//! system would send. Per action and provider: the happy path (the card
//! changes from the fake's events), the provider's refusal verbatim, the
//! timeout, a double click acting once, the roles' refusals, and what a
//! provider cannot do shown unavailable.

use serde_json::Value;
use testkit::Stack;

use crate::actions::{live_leg, pbx_for, CALLER, LONG};
use crate::fake_pbx::Pbx;
use crate::helpers::{call, http, login, stack_with, OPERATOR, VIEWER};

mod audit;
pub(crate) mod dialpad;
mod failures;
mod roles;
mod yeastar;

/// The supervisor every control test stack has.
pub const SUPERVISOR: (&str, &str) = ("sam", "supervisor password 1");

/// A stack with the operator, viewer and [`SUPERVISOR`] (and `more`),
/// with `board_args`.
pub async fn control_stack(
    board_args: &[&str],
    more: impl FnOnce(testkit::StackBuilder) -> testkit::StackBuilder,
) -> anyhow::Result<Stack> {
    stack_with(board_args, |b| {
        more(b.user(SUPERVISOR.0, "supervisor", SUPERVISOR.1))
    })
    .await
}

/// The cookies of the operator, the supervisor and the viewer.
pub async fn cookies(s: &Stack) -> (String, String, String) {
    let b = s.board().url();
    (
        login(&b, OPERATOR.0, OPERATOR.1).await,
        login(&b, SUPERVISOR.0, SUPERVISOR.1).await,
        login(&b, VIEWER.0, VIEWER.1).await,
    )
}

/// A Yeastar stack with its fake PBX (which lists extensions 2002, 2003,
/// 2009 and queue 6400).
pub async fn yeastar_stack(board_args: &[&str]) -> anyhow::Result<(Stack, Pbx)> {
    let s = control_stack(board_args, |b| b).await?;
    let pbx = pbx_for(&s, std::time::Duration::from_secs(1800), LONG).await;
    pbx.list(&["2002", "2003", "2009"], &["6400"]);
    Ok((s, pbx))
}

/// Call `call_id` from the caller to `ext`, known to the fake PBX, ringing
/// (or answered too when `answered`). Returns the card's (call id, leg id).
pub async fn yeastar_call(
    s: &Stack,
    pbx: &Pbx,
    call_id: &str,
    ext: &str,
    answered: bool,
) -> anyhow::Result<(String, String)> {
    let steps = call(call_id, CALLER, ext);
    pbx.add_call(call_id, ext, &steps);
    pbx.control_call(call_id, CALLER, ext);
    s.send("pbx", &steps[0].body).await?;
    if answered {
        s.send("pbx", &steps[1].body).await?;
        s.wait_extension("pbx", ext, "incall").await?;
    } else {
        s.wait_extension("pbx", ext, "ringing").await?;
    }
    Ok(live_leg(s, "pbx", ext).await)
}

/// `POST {board}/api/{what}/{source}/{id}/{action}` with `body`, from the
/// board's origin. Returns the status and the JSON answer.
async fn post(board: &str, cookie: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = http()
        .post(format!("{board}{path}"))
        .header("Origin", board)
        .header("Cookie", cookie)
        .json(body)
        .send()
        .await
        .expect("action request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An action on a call.
pub async fn on_call(
    s: &Stack,
    cookie: &str,
    source: &str,
    call_id: &str,
    action: &str,
    body: Value,
) -> (u16, Value) {
    post(
        &s.board().url(),
        cookie,
        &format!("/api/calls/{source}/{call_id}/{action}"),
        &body,
    )
    .await
}

/// An action on an extension.
pub async fn on_extension(
    s: &Stack,
    cookie: &str,
    source: &str,
    ext: &str,
    action: &str,
    body: Value,
) -> (u16, Value) {
    post(
        &s.board().url(),
        cookie,
        &format!("/api/extensions/{source}/{ext}/{action}"),
        &body,
    )
    .await
}

/// The card of `ext` of `source` as `GET /api/extensions` gives it.
pub async fn card(s: &Stack, cookie: &str, source: &str, ext: &str) -> Value {
    let cards: Value = http()
        .get(format!(
            "{}/api/extensions?source={source}",
            s.board().url()
        ))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("GET /api/extensions")
        .json()
        .await
        .expect("JSON");
    cards
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["number"] == ext)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until `check` holds of the card of `ext`.
pub async fn wait_card(
    s: &Stack,
    cookie: &str,
    source: &str,
    ext: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    let check = &check;
    testkit::wait_until(crate::helpers::WAIT, what, || async move {
        Ok(check(&card(s, cookie, source, ext).await))
    })
    .await
}
