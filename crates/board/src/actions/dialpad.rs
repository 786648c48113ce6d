//! The Dialpad API v2 client: one request ([`Actions::dialpad_call`]) with
//! the API key as a bearer token, and which request each action is
//! (providers.md; only the hang-up's path was documented before, none was
//! tried against Dialpad itself):
//!
//! | action | request |
//! |---|---|
//! | hang-up | `PUT /api/v2/call/{id}/actions/hangup` |
//! | transfer (blind) | `POST /api/v2/call/{id}/transfer {to, transfer_state: "hold"}` |
//! | presence | `PATCH /api/v2/users/{id}/togglednd {do_not_disturb}` (available or dnd only) |
//! | pause/resume | `PATCH /api/v2/callcenters/operators/{id}/dutystatus {on_duty, on_duty_status_reason}` |
//!
//! `{id}` of a call is the leg's Dialpad call id (the board's leg id); of
//! a user, the extension's number on the board (Dialpad's user id).

use serde_json::{json, Value};
use store::apis::ApiSettings;

use super::action::Action;
use super::http::Fail;
use super::{Accepted, Actions, Ctx};

/// What the board calls itself to Dialpad.
const USER_AGENT: &str = concat!("switchboard-board/", env!("CARGO_PKG_VERSION"));

/// `id` when it is a Dialpad id (digits), else why not: a leg's or an
/// extension's.
fn dialpad_id<'a>(id: Option<&'a str>, of: &str) -> Result<&'a str, Fail> {
    match id {
        Some(i) if !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) => Ok(i),
        _ if of == "leg" => Err(Fail::Refused(
            "this leg's id is not a Dialpad call id".into(),
        )),
        _ => Err(Fail::Refused(
            "this extension's number is not a Dialpad user id".into(),
        )),
    }
}

impl Actions {
    /// Does `ctx.action` through Dialpad with `api_key`.
    pub(super) async fn dialpad_act(
        &self,
        api: &ApiSettings,
        api_key: &str,
        ctx: &Ctx<'_>,
    ) -> Result<Accepted, Fail> {
        let what = ctx.action.what();
        let (method, path, body) = match ctx.action {
            Action::Hangup => {
                let call = dialpad_id(ctx.leg_id, "leg")?;
                (
                    reqwest::Method::PUT,
                    format!("call/{call}/actions/hangup"),
                    None,
                )
            }
            Action::Transfer { to: Some(to), .. } => {
                let call = dialpad_id(ctx.leg_id, "leg")?;
                (
                    reqwest::Method::POST,
                    format!("call/{call}/transfer"),
                    Some(json!({"to": to, "transfer_state": "hold"})),
                )
            }
            Action::Presence(p) if matches!(*p, "available" | "dnd") => {
                let user = dialpad_id(ctx.extension, "extension")?;
                (
                    reqwest::Method::PATCH,
                    format!("users/{user}/togglednd"),
                    Some(json!({"do_not_disturb": *p == "dnd"})),
                )
            }
            Action::Presence(p) => {
                return Err(Fail::Unavailable(format!(
                    "Dialpad's API only turns do-not-disturb on or off: it cannot set {p}"
                )))
            }
            Action::Pause { reason, .. } => {
                let user = dialpad_id(ctx.extension, "extension")?;
                (
                    reqwest::Method::PATCH,
                    format!("callcenters/operators/{user}/dutystatus"),
                    Some(json!({"on_duty": false, "on_duty_status_reason": reason})),
                )
            }
            Action::Resume { .. } => {
                let user = dialpad_id(ctx.extension, "extension")?;
                (
                    reqwest::Method::PATCH,
                    format!("callcenters/operators/{user}/dutystatus"),
                    Some(json!({"on_duty": true})),
                )
            }
            other => {
                return Err(Fail::Unavailable(format!(
                    "Dialpad's API cannot do a {}",
                    other.what()
                )))
            }
        };
        self.dialpad_call(api, api_key, method, &path, body.as_ref(), what)
            .await
            .map(Accepted::plain)
    }

    /// Sends `method` `{base}/api/v2/{path}` (with the JSON `body`) with
    /// `api_key`. Returns Dialpad's answer; an HTTP error is the provider
    /// error "Dialpad refused the {what}: {message} (HTTP {status})".
    async fn dialpad_call(
        &self,
        api: &ApiSettings,
        api_key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<String, Fail> {
        let url = format!("{}/api/v2/{path}", api.base_url);
        let (status, bytes) = self
            .send(|| {
                let r = self
                    .http
                    .request(method.clone(), &url)
                    .bearer_auth(api_key)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .header(reqwest::header::USER_AGENT, USER_AGENT);
                match body {
                    Some(b) => r.json(b),
                    None => r,
                }
            })
            .await?;
        let text = String::from_utf8_lossy(&bytes);
        let answer = format!("HTTP {status} {}", text.trim());
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.get("message"))
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.trim().to_string());
        Err(Fail::Provider {
            message: if message.is_empty() {
                format!("Dialpad refused the {what} (HTTP {status})")
            } else {
                format!("Dialpad refused the {what}: {message} (HTTP {status})")
            },
            answer,
        })
    }
}
