//! The call control of the FAKE phone systems (`fake_pbx`): for each
//! action, the request checked as providers.md documents it, then the
//! signed events a real system would send back through ingest. What is
//! not documented is invented here and marked so: the park answer's
//! `parking_slot`, the errcode of an unknown channel, the consult call's
//! id, the `extension/list`/`queue/list` answers' shape (`data[]` with
//! `id`, `number`).
//!
//! Yeastar (after the token check of `fake_pbx`):
//! - `call/transfer` blind: 30013 (the caller, the old extension BYE, the
//!   new one RING), then 30011 (the new one ANSWER);
//! - attended: a consult call (30011 `{call}9`: the transferor ALERT, the
//!   target RING then ANSWER); `attended_operate` `complete`: 30013 on the
//!   call (the target ANSWER, the transferor BYE) and the consult BYE;
//!   `abort`: the consult BYE;
//! - `call/park`: 30011 with the caller HOLD and the extension BYE (the
//!   parked state), answering `parking_slot`;
//! - `call/hold`: 30011 with the extension HOLD;
//! - `call/listen`: 30011 with the supervisor's extension ANSWER;
//! - `extension/update`: 30009; `agent/pause`: 30029 (object `msg`).
//!
//! Dialpad: `transfer`: the target user's new leg ringing then connected,
//! the old leg's hangup; `togglednd`: nothing (Dialpad documents no
//! event); `dutystatus`: the agent status event.

use std::collections::HashMap;

use serde_json::{json, Value};
use traffic::scenario::{yeastar_envelope, yeastar_snapshot, Member};

use crate::fake_pbx::Req;

/// A call the fake PBX can act on: the caller and the extension.
#[derive(Clone)]
struct Call {
    caller: String,
    ext: String,
}

/// What the fake PBX knows for call control, and what it was asked.
#[derive(Default)]
pub struct Control {
    /// Call id → the call.
    calls: HashMap<String, Call>,
    /// Extension and queue numbers the PBX lists (their ids: 100 + index).
    pub extensions: Vec<String>,
    pub queues: Vec<String>,
    /// Every control request: the path and its JSON body (the query as an
    /// object for GETs).
    pub seen: Vec<(String, Value)>,
    /// Call id → its attended transfer's consult call id.
    consults: HashMap<String, String>,
    serial: u32,
}

/// The channel of the caller of call `id` (as `yeastar_snapshot` names it).
pub fn caller_channel(id: &str) -> String {
    format!("PJSIP/trunk-inbound-{id}")
}

/// The channel of extension `ext` in call `id`.
pub fn ext_channel(ext: &str, id: &str) -> String {
    format!("PJSIP/{ext}-{id}")
}

impl Control {
    /// Makes call `id` from `caller` to `ext` known.
    pub fn add_call(&mut self, id: &str, caller: &str, ext: &str) {
        self.calls.insert(
            id.to_string(),
            Call {
                caller: caller.to_string(),
                ext: ext.to_string(),
            },
        );
    }

    /// The call whose channel (caller's or extension's) is `channel`.
    fn by_channel(&self, channel: &str) -> Option<(String, Call)> {
        self.calls
            .iter()
            .find(|(id, c)| channel == caller_channel(id) || channel == ext_channel(&c.ext, id))
            .map(|(id, c)| (id.clone(), c.clone()))
    }

    fn id_of(list: &[String], id: &Value) -> Option<String> {
        let i = id
            .as_u64()
            .or_else(|| id.as_str().and_then(|s| s.parse().ok()))?;
        list.get(usize::try_from(i.checked_sub(100)?).ok()?)
            .cloned()
    }

    /// Answers the Yeastar control request `req` (token already checked):
    /// the answer, and the webhook bodies to post, in order.
    pub fn yeastar(&mut self, req: &Req) -> (Value, Vec<Vec<u8>>) {
        let path = req.path.trim_start_matches("/openapi/v1.0/").to_string();
        let body = if req.method == "GET" {
            json!(req.query)
        } else {
            serde_json::from_slice(&req.body).unwrap_or(Value::Null)
        };
        self.seen.push((path.clone(), body.clone()));
        let invalid = |m: &str| (json!({"errcode": 10003, "errmsg": m}), vec![]);
        let success = |events| (json!({"errcode": 0, "errmsg": "SUCCESS"}), events);
        let s = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        match (req.method.as_str(), path.as_str()) {
            ("POST", "call/transfer") => {
                let Some((id, c)) = self.by_channel(&s("channel_id")) else {
                    return (
                        json!({"errcode": 70001, "errmsg": "CHANNEL NOT FOUND"}),
                        vec![],
                    );
                };
                let consult = self.consults.get(&id).cloned().unwrap_or_default();
                let trunk = |st| Member::Trunk("inbound", &c.caller, &c.ext, st);
                match (s("type").as_str(), s("attended_operate").as_str()) {
                    ("blind", "") if !s("number").is_empty() => {
                        let to = s("number");
                        let events = vec![
                            yeastar_snapshot(
                                30013,
                                &id,
                                &[
                                    trunk("ALERT"),
                                    Member::Ext(&c.ext, "BYE"),
                                    Member::Ext(&to, "RING"),
                                ],
                            ),
                            yeastar_snapshot(
                                30011,
                                &id,
                                &[trunk("ANSWERED"), Member::Ext(&to, "ANSWER")],
                            ),
                        ];
                        if let Some(k) = self.calls.get_mut(&id) {
                            k.ext = to.clone();
                        }
                        success(events)
                    }
                    ("attended", "") if !s("number").is_empty() => {
                        let to = s("number");
                        self.serial += 1;
                        let consult = format!("{id}{}", self.serial);
                        self.consults.insert(id.clone(), consult.clone());
                        self.calls.insert(
                            consult.clone(),
                            Call {
                                caller: c.ext.clone(),
                                ext: to.clone(),
                            },
                        );
                        success(vec![
                            yeastar_snapshot(
                                30011,
                                &consult,
                                &[Member::Ext(&c.ext, "ALERT"), Member::Ext(&to, "RING")],
                            ),
                            yeastar_snapshot(
                                30011,
                                &consult,
                                &[Member::Ext(&c.ext, "ANSWERED"), Member::Ext(&to, "ANSWER")],
                            ),
                        ])
                    }
                    ("attended", op @ ("complete" | "abort")) => {
                        self.consults.remove(&id);
                        let Some(k) = self.calls.remove(&consult) else {
                            return invalid("NO ATTENDED TRANSFER IN PROGRESS");
                        };
                        let bye = yeastar_snapshot(
                            30011,
                            &consult,
                            &[Member::Ext(&k.caller, "BYE"), Member::Ext(&k.ext, "BYE")],
                        );
                        if op == "abort" {
                            return success(vec![bye]);
                        }
                        if let Some(x) = self.calls.get_mut(&id) {
                            x.ext = k.ext.clone();
                        }
                        success(vec![
                            yeastar_snapshot(
                                30013,
                                &id,
                                &[
                                    trunk("ANSWERED"),
                                    Member::Ext(&c.ext, "BYE"),
                                    Member::Ext(&k.ext, "ANSWER"),
                                ],
                            ),
                            bye,
                        ])
                    }
                    _ => invalid("INVALID PARAMETER: type, number or attended_operate"),
                }
            }
            ("POST", "call/park") => {
                let Some((id, c)) = self.by_channel(&s("channel_id")) else {
                    return (
                        json!({"errcode": 70001, "errmsg": "CHANNEL NOT FOUND"}),
                        vec![],
                    );
                };
                let ev = yeastar_snapshot(
                    30011,
                    &id,
                    &[
                        Member::Trunk("inbound", &c.caller, &c.ext, "HOLD"),
                        Member::Ext(&c.ext, "BYE"),
                    ],
                );
                (
                    json!({"errcode": 0, "errmsg": "SUCCESS", "parking_slot": "6001"}),
                    vec![ev],
                )
            }
            ("POST", "call/hold") => {
                let ch = s("channel_id");
                match self.by_channel(&ch) {
                    Some((id, c)) if ch == ext_channel(&c.ext, &id) => {
                        success(vec![yeastar_snapshot(
                            30011,
                            &id,
                            &[
                                Member::Trunk("inbound", &c.caller, &c.ext, "ANSWERED"),
                                Member::Ext(&c.ext, "HOLD"),
                            ],
                        )])
                    }
                    _ => (
                        json!({"errcode": 70001, "errmsg": "CHANNEL NOT FOUND"}),
                        vec![],
                    ),
                }
            }
            ("POST", "call/listen") => {
                let ch = s("channel_id");
                let (monitor, kind) = (s("monitor"), s("type"));
                if monitor.is_empty() || !["listen", "whisper", "barge"].contains(&kind.as_str()) {
                    return invalid("INVALID PARAMETER: monitor or type");
                }
                match self.by_channel(&ch) {
                    Some((id, c)) if ch == ext_channel(&c.ext, &id) => {
                        success(vec![yeastar_snapshot(
                            30011,
                            &id,
                            &[
                                Member::Trunk("inbound", &c.caller, &c.ext, "ANSWERED"),
                                Member::Ext(&c.ext, "ANSWER"),
                                Member::Ext(&monitor, "ANSWER"),
                            ],
                        )])
                    }
                    _ => (
                        json!({"errcode": 70001, "errmsg": "CHANNEL NOT FOUND"}),
                        vec![],
                    ),
                }
            }
            ("GET", "extension/list") => {
                let data: Vec<Value> = self
                    .extensions
                    .iter()
                    .enumerate()
                    .map(|(i, n)| json!({"id": 100 + i, "number": n}))
                    .collect();
                (
                    json!({"errcode": 0, "errmsg": "SUCCESS", "total_number": data.len(), "data": data}),
                    vec![],
                )
            }
            ("GET", "queue/list") => {
                let data: Vec<Value> = self
                    .queues
                    .iter()
                    .enumerate()
                    .map(|(i, n)| json!({"id": 100 + i, "number": n}))
                    .collect();
                (
                    json!({"errcode": 0, "errmsg": "SUCCESS", "total_number": data.len(), "data": data}),
                    vec![],
                )
            }
            ("POST", "extension/update") => {
                let Some(ext) = Self::id_of(&self.extensions, &body["id"]) else {
                    return invalid("EXTENSION NOT FOUND");
                };
                let status = s("presence_status");
                let known = [
                    "available",
                    "away",
                    "business_trip",
                    "do_not_disturb",
                    "lunch",
                    "off_work",
                ];
                if !known.contains(&status.as_str()) {
                    return invalid("INVALID PARAMETER: presence_status");
                }
                success(vec![yeastar_envelope(
                    30009,
                    &json!({"extension": ext, "status": status}),
                )])
            }
            ("GET", "agent/pause") => {
                let (Some(ext), Some(queue)) = (
                    Self::id_of(&self.extensions, &body["ext_id"]),
                    Self::id_of(&self.queues, &body["queue_ids"]),
                ) else {
                    return invalid("AGENT OR QUEUE NOT FOUND");
                };
                let status = match s("operation").as_str() {
                    "pause" => "paused",
                    "unpause" => "unpaused",
                    _ => return invalid("INVALID PARAMETER: operation"),
                };
                let reason = s("reason").replace(['+'], " ").replace("%20", " ");
                let msg = json!({"queue_number": format!("queue-{queue}"), "agent_number": ext,
                                 "status": status, "reason": reason});
                let ev = json!({"type": 30029, "sn": "3631A2124XXX", "msg": msg})
                    .to_string()
                    .into_bytes();
                success(vec![ev])
            }
            _ => (json!({"errcode": 404, "errmsg": "NOT FOUND"}), vec![]),
        }
    }
}

/// Dialpad call control: the answer (status, body) and the event claims
/// to post, for `req` (key already checked). `calls`: Dialpad call id →
/// the claims of its hangup event (a template for new legs too).
pub fn dialpad(
    req: &Req,
    calls: &mut HashMap<String, Vec<u8>>,
    seen: &mut Vec<(String, Value)>,
) -> Option<(u16, Value, Vec<Vec<u8>>)> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let path = req.path.trim_start_matches("/api/v2/").to_string();
    let parts: Vec<&str> = path.split('/').collect();
    let now = chrono::Utc::now().timestamp_millis();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["call", id, "transfer"]) => {
            seen.push((path.clone(), body.clone()));
            let to = body["to"].as_str().unwrap_or_default().to_string();
            let states = ["hold", "parked", "voicemail", "preanswer"];
            if to.is_empty() || !states.contains(&body["transfer_state"].as_str().unwrap_or("")) {
                return Some((
                    400,
                    json!({"error": {"code": 400, "message": "Invalid transfer target"}}),
                    vec![],
                ));
            }
            let Some(hangup) = calls.remove(*id) else {
                return Some((
                    404,
                    json!({"error": {"code": 404, "message": "Call not found"}}),
                    vec![],
                ));
            };
            let mut leg: Value = serde_json::from_slice(&hangup).unwrap_or(Value::Null);
            let new_id = leg["call_id"].as_u64().unwrap_or(0) + 1;
            let first = leg.clone();
            leg["call_id"] = json!(new_id);
            leg["target"]["id"] = json!(to.parse::<u64>().unwrap_or(0));
            leg["date_ended"] = Value::Null;
            let at = |mut v: Value, state: &str, ts: i64| {
                v["state"] = json!(state);
                v["event_timestamp"] = json!(ts);
                v.to_string().into_bytes()
            };
            let mut ended = first;
            ended["date_ended"] = json!(now);
            let mut connected = leg.clone();
            connected["date_connected"] = json!(now + 2);
            let mut new_hangup = leg.clone();
            new_hangup["date_ended"] = json!(now + 10_000);
            calls.insert(new_id.to_string(), at(new_hangup, "hangup", now + 10_000));
            Some((
                200,
                json!({"call_id": id, "transferred_to": to}),
                vec![
                    at(leg, "ringing", now + 1),
                    at(ended, "hangup", now + 2),
                    at(connected, "connected", now + 3),
                ],
            ))
        }
        ("PATCH", ["users", _, "togglednd"]) => {
            seen.push((path.clone(), body.clone()));
            if !body["do_not_disturb"].is_boolean() {
                return Some((
                    400,
                    json!({"error": {"code": 400, "message": "do_not_disturb is required"}}),
                    vec![],
                ));
            }
            Some((
                200,
                json!({"do_not_disturb": body["do_not_disturb"]}),
                vec![],
            ))
        }
        ("PATCH", ["callcenters", "operators", id, "dutystatus"]) => {
            seen.push((path.clone(), body.clone()));
            let Some(on) = body["on_duty"].as_bool() else {
                return Some((
                    400,
                    json!({"error": {"code": 400, "message": "on_duty is required"}}),
                    vec![],
                ));
            };
            let ev = json!({"target": {"id": id.parse::<u64>().unwrap_or(0), "type": "user", "name": "Agent"},
                            "on_duty_status": if on { "available" } else { "unavailable" },
                            "on_duty_status_reason": body["on_duty_status_reason"],
                            "call_center_ids": [], "date": now, "event_timestamp": now})
            .to_string()
            .into_bytes();
            Some((200, json!({"on_duty": on}), vec![ev]))
        }
        _ => None,
    }
}
