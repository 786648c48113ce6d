//! Which Yeastar P-Series OpenAPI request each action is (providers.md,
//! "More call control"; every path under `{base}/openapi/v1.0/`, answers
//! `errcode`/`errmsg`). None was tried against a real PBX.
//!
//! | action | request |
//! |---|---|
//! | hang-up | `POST call/hangup {channel_id}` (the leg's channel) |
//! | transfer | `POST call/transfer {type: "blind", channel_id, number}` (the other party's channel: the one that moves) |
//! | attended | `POST call/transfer {type: "attended", channel_id, number}`, then `{type: "attended", channel_id, attended_operate: "complete"/"abort"}` (the leg's channel) |
//! | park | `POST call/park {channel_id}` (the other party's; the PBX picks the slot) |
//! | hold | `POST call/hold {channel_id}` (the leg's) |
//! | listen/whisper/barge | `POST call/listen {channel_id, monitor, type}` (monitor: the supervisor's extension) |
//! | presence | `POST extension/update {id, presence_status}` (id from `GET extension/list`) |
//! | pause/resume | `GET agent/pause?ext_id=&queue_ids=&operation=pause/unpause&reason=` (ids from `extension/list`, `queue/list`) |

use serde_json::{json, Value};
use store::apis::ApiSettings;

use super::action::{Action, TransferMode};
use super::http::Fail;
use super::{Accepted, Actions, Ctx};

/// The Yeastar word of a presence of ours.
fn presence_word(p: &str) -> &str {
    match p {
        "dnd" => "do_not_disturb",
        other => other,
    }
}

/// The slot a park answer names, if it names one (the field is not
/// documented: any of these).
fn slot_of(v: &Value) -> Option<String> {
    ["parking_slot", "slot", "park_number", "parked_number"]
        .iter()
        .find_map(|k| match &v[k] {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

impl Actions {
    /// Does `ctx.action` on `api`'s PBX.
    pub(super) async fn yeastar_act(
        &self,
        api: &ApiSettings,
        id: &str,
        secret: &str,
        ctx: &Ctx<'_>,
    ) -> Result<Accepted, Fail> {
        let what = ctx.action.what();
        let post = |path: &'static str, body: Value| async move {
            self.yeastar_call(api, id, secret, false, path, &[], &body, what)
                .await
        };
        let need = |c: &Option<String>| {
            c.clone().ok_or_else(|| {
                Fail::Refused(format!(
                    "this leg has no channel id from the PBX, which its {what} API needs"
                ))
            })
        };
        let (_, answer) = match ctx.action {
            Action::Hangup => {
                post("call/hangup", json!({ "channel_id": need(&ctx.channel)? })).await?
            }
            Action::Transfer { mode, to } => {
                let body = match (mode, to) {
                    (TransferMode::Blind, Some(to)) => {
                        json!({"type": "blind", "channel_id": need(&ctx.other_channel)?, "number": to})
                    }
                    (TransferMode::Attended, Some(to)) => {
                        json!({"type": "attended", "channel_id": need(&ctx.other_channel)?, "number": to})
                    }
                    (TransferMode::Complete, _) => {
                        json!({"type": "attended", "channel_id": need(&ctx.channel)?, "attended_operate": "complete"})
                    }
                    (TransferMode::Cancel, _) => {
                        json!({"type": "attended", "channel_id": need(&ctx.channel)?, "attended_operate": "abort"})
                    }
                    _ => return Err(Fail::Refused("a transfer needs a number".into())),
                };
                post("call/transfer", body).await?
            }
            Action::Park => {
                let (v, answer) =
                    post("call/park", json!({ "channel_id": need(&ctx.other_channel)? })).await?;
                let shown = match slot_of(&v) {
                    Some(s) => format!("parked in slot {s}; dial {s} from any phone to pick it up"),
                    None => "the PBX did not say which slot".to_string(),
                };
                return Ok(Accepted {
                    answer,
                    shown: Some(shown),
                });
            }
            Action::Hold => post("call/hold", json!({ "channel_id": need(&ctx.channel)? })).await?,
            Action::Unhold => {
                return Err(Fail::Unavailable(
                    "Yeastar's API documents no unhold: the phone that held the call resumes it"
                        .into(),
                ))
            }
            Action::Listen(mode) => {
                post(
                    "call/listen",
                    json!({"channel_id": need(&ctx.channel)?, "monitor": ctx.monitor, "type": mode.as_str()}),
                )
                .await?
            }
            Action::Presence(p) => {
                let ext = ctx.extension.unwrap_or_default();
                let ext_id = self.yeastar_id(api, id, secret, "extension", ext, what).await?;
                post(
                    "extension/update",
                    json!({"id": ext_id, "presence_status": presence_word(p)}),
                )
                .await?
            }
            Action::Pause { queue, .. } | Action::Resume { queue } => {
                let ext = ctx.extension.unwrap_or_default();
                let ext_id = self.yeastar_id(api, id, secret, "extension", ext, what).await?;
                let queue_id = self.yeastar_id(api, id, secret, "queue", queue, what).await?;
                let mut query = vec![
                    ("ext_id", ext_id.to_string()),
                    ("queue_ids", queue_id.to_string()),
                ];
                match ctx.action {
                    Action::Pause { reason, .. } => {
                        query.push(("operation", "pause".into()));
                        query.push(("reason", reason.clone().unwrap_or_default()));
                    }
                    _ => query.push(("operation", "unpause".into())),
                }
                self.yeastar_call(api, id, secret, true, "agent/pause", &query, &Value::Null, what)
                    .await?
            }
        };
        Ok(Accepted::plain(answer))
    }

    /// The PBX's id of the `kind` (`extension`, `queue`) numbered
    /// `number`, from `GET {kind}/list`.
    async fn yeastar_id(
        &self,
        api: &ApiSettings,
        id: &str,
        secret: &str,
        kind: &str,
        number: &str,
        what: &str,
    ) -> Result<Value, Fail> {
        let path = match kind {
            "queue" => "queue/list",
            _ => "extension/list",
        };
        let (v, answer) = self
            .yeastar_call(api, id, secret, true, path, &[], &Value::Null, what)
            .await?;
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| match &e["number"] {
                Value::String(s) => s.trim() == number,
                Value::Number(n) => n.to_string() == number,
                _ => false,
            })
            .map(|e| e["id"].clone())
            .filter(|id| !id.is_null())
            .ok_or_else(|| Fail::Provider {
                message: format!("The PBX lists no {kind} {number}"),
                answer: format!("{answer}; no {kind} numbered {number}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_slots() {
        assert_eq!(presence_word("dnd"), "do_not_disturb");
        assert_eq!(presence_word("lunch"), "lunch");
        assert_eq!(
            slot_of(&json!({"parking_slot": "6001"})).as_deref(),
            Some("6001")
        );
        assert_eq!(slot_of(&json!({"slot": 6002})).as_deref(), Some("6002"));
        assert_eq!(slot_of(&json!({"errcode": 0})), None);
    }
}
