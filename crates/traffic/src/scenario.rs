//! Realistic call scenarios, as the providers put them on the wire, and
//! their signed HTTP requests.

use domain::signature;
use serde_json::{json, Value};

/// One webhook of a scenario: a label and the unsigned body.
#[derive(Debug, Clone)]
pub struct Step {
    pub label: &'static str,
    pub body: Vec<u8>,
}

/// A signed request ready to post.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Signs a Yeastar body: `X-Signature` over the raw bytes.
pub fn sign_yeastar(secret: &str, body: &[u8]) -> SignedRequest {
    SignedRequest {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Signature".into(), signature::sign_yeastar(secret, body)),
        ],
        body: body.to_vec(),
    }
}

/// Signs a Dialpad event: the body becomes an HS256 JWT of the claims, or
/// stays plain JSON when `secret` is `None`.
pub fn sign_dialpad(secret: Option<&str>, claims: &[u8]) -> SignedRequest {
    match secret {
        Some(s) => SignedRequest {
            headers: vec![("Content-Type".into(), "application/jwt".into())],
            body: signature::sign_dialpad(s, claims).into_bytes(),
        },
        None => SignedRequest {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: claims.to_vec(),
        },
    }
}

/// A Yeastar envelope with `msg` as a JSON-encoded string, as 30007-30024 are sent.
pub fn yeastar_envelope(event: i64, msg: &Value) -> Vec<u8> {
    json!({"type": event, "sn": "3631A2124XXX", "msg": msg.to_string()})
        .to_string()
        .into_bytes()
}

fn ext_member(number: &str, channel: &str, status: &str) -> Value {
    json!({"extension": {"number": number, "channel_id": channel, "member_status": status, "call_path": ""}})
}

fn trunk_member(kind: &str, from: &str, to: &str, channel: &str, status: &str) -> Value {
    json!({kind: {"from": from, "to": to, "trunk_name": "SIP-Trunk1", "channel_id": channel, "member_status": status, "call_path": ""}})
}

/// An inbound Yeastar call from `caller` to extension `ext`: ringing,
/// answered, hold, resume, hang-up and the CDR with a recording.
pub fn yeastar_inbound(call_id: &str, caller: &str, ext: &str) -> Vec<Step> {
    let trunk_ch = format!("PJSIP/trunk-{call_id}");
    let ext_ch = format!("PJSIP/{ext}-{call_id}");
    let snap = |label: &'static str, trunk: &str, extension: &str| Step {
        label,
        body: yeastar_envelope(
            30011,
            &json!({"call_id": call_id, "members": [
                trunk_member("inbound", caller, ext, &trunk_ch, trunk),
                ext_member(ext, &ext_ch, extension),
            ]}),
        ),
    };
    vec![
        snap("ringing", "ALERT", "RING"),
        snap("answered", "ANSWERED", "ANSWER"),
        snap("hold", "ANSWERED", "HOLD"),
        snap("bye", "BYE", "BYE"),
        Step {
            label: "cdr",
            body: yeastar_envelope(
                30012,
                &json!({
                    "call_id": call_id, "time_start": "2026-11-21 10:00:00",
                    "call_from": caller, "call_to": ext, "call_duration": 24,
                    "talk_duration": 21, "src_trunk_name": "SIP-Trunk1", "dst_trunk_name": "",
                    "status": "ANSWERED", "type": "Inbound",
                    "recording": format!("20261121100009-{call_id}-{caller}-{ext}-Inbound.wav"),
                    "did_number": ext, "agent_ring_time": 3
                }),
            ),
        },
    ]
}

/// A Dialpad call event for leg `leg_id` of an inbound call to user `user`.
#[allow(clippy::too_many_arguments)]
pub fn dialpad_event(
    leg_id: u64,
    entry_point: Option<u64>,
    state: &str,
    user_id: u64,
    user_name: &str,
    caller: &str,
    t0_ms: i64,
    event_ms: i64,
) -> Vec<u8> {
    let connected = matches!(state, "connected" | "hold" | "hangup" | "recording");
    let ended = matches!(state, "hangup" | "missed" | "recording");
    let mut v = json!({
        "call_id": leg_id,
        "master_call_id": null,
        "entry_point_call_id": entry_point,
        "operator_call_id": null,
        "direction": "inbound",
        "date_started": t0_ms,
        "date_rang": t0_ms + 500,
        "date_first_rang": t0_ms + 500,
        "date_queued": null,
        "date_connected": if connected { json!(t0_ms + 6_000) } else { Value::Null },
        "date_ended": if ended { json!(t0_ms + 130_000) } else { Value::Null },
        "external_number": caller,
        "internal_number": "+14155550188",
        "contact": {"id": 6131436978913280u64, "type": "local", "name": "Caller", "phone": caller, "email": ""},
        "target": {"id": user_id, "type": "user", "name": user_name, "email": "", "phone": "+14155550188", "office_id": 5716039329251328u64},
        "is_internal": false,
        "is_transferred": false,
        "duration": if ended { json!(124_000.0) } else { json!(0) },
        "total_duration": if state == "hangup" { json!(130_500.5) } else { json!(0) },
        "was_recorded": ended,
        "recording_details": [],
        "labels": [],
        "state": state,
        "event_timestamp": event_ms,
    });
    if state == "recording" {
        v["recording_details"] = json!([{
            "id": format!("{leg_id}9"), "url": format!("https://dialpad.example/r/{leg_id}"),
            "duration": 123_000, "recording_type": "callrecording", "start_time": t0_ms + 6_500
        }]);
    }
    v.to_string().into_bytes()
}

/// An inbound Dialpad call answered by one user: ringing, connected,
/// hang-up, then the recording.
pub fn dialpad_inbound(
    leg_id: u64,
    user_id: u64,
    user_name: &str,
    caller: &str,
    t0_ms: i64,
) -> Vec<Step> {
    let ev = |label: &'static str, state: &str, dt: i64| Step {
        label,
        body: dialpad_event(
            leg_id,
            None,
            state,
            user_id,
            user_name,
            caller,
            t0_ms,
            t0_ms + dt,
        ),
    };
    vec![
        ev("ringing", "ringing", 600),
        ev("connected", "connected", 6_060),
        ev("hangup", "hangup", 130_100),
        ev("recording", "recording", 138_000),
    ]
}
