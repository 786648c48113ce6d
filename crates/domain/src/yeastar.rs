//! Yeastar P-Series webhook events: the envelope, `msg` as a JSON string or
//! object, and the call, CDR and extension events.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::event::{CallUpdate, Effect, Envelope, LegState, LegUpdate, ParseError, Parsed};
use crate::status::{yeastar_event_type, yeastar_member_status, Mapped};

/// Parses a Yeastar webhook body. Unknown event ids parse as
/// [`Effect::Ignored`]; a malformed known event is an error.
pub fn parse(body: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    let root: Value = serde_json::from_slice(body)?;
    let obj = root
        .as_object()
        .ok_or_else(|| ParseError::Shape("envelope is not a JSON object".into()))?;
    let id = obj
        .get("type")
        .and_then(int_of)
        .ok_or_else(|| ParseError::Shape("envelope has no integer `type`".into()))?;
    let event_type = yeastar_event_type(id);
    let msg = match obj.get("msg") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)?,
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let mut notes = Vec::new();
    let effect = match id {
        30011 | 30013 | 30014 | 30016 => Effect::Call(call_status(&msg, env, false, &mut notes)?),
        30015 => {
            let mut u = call_status(&msg, env, true, &mut notes)?;
            u.disposition = Some("failed".into());
            Effect::Call(u)
        }
        30012 => Effect::Call(cdr(&msg, env)?),
        30007 => {
            let m: Registration = from_msg(&msg)?;
            match m.status.to_ascii_lowercase().as_str() {
                "registered" => Effect::Registration {
                    extension: text_of(&m.extension),
                    registered: true,
                    seq: env.id,
                    at: env.received_at,
                },
                "unregistered" => Effect::Registration {
                    extension: text_of(&m.extension),
                    registered: false,
                    seq: env.id,
                    at: env.received_at,
                },
                other => {
                    notes.push(format!(
                        "unknown registration status {other:?} kept, not applied"
                    ));
                    Effect::Ignored
                }
            }
        }
        30008 => {
            let m: Registration = from_msg(&msg)?;
            Effect::Reported {
                extension: text_of(&m.extension),
                name: None,
                status: m.status,
                seq: env.id,
                at: env.received_at,
            }
        }
        _ => Effect::Ignored,
    };
    Ok(Parsed {
        event_type,
        effect,
        notes,
    })
}

#[derive(Deserialize)]
struct Registration {
    extension: Value,
    status: String,
}

#[derive(Deserialize)]
struct CallMsg {
    call_id: Value,
    #[serde(default)]
    members: Vec<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(default)]
    number: Option<Value>,
    #[serde(default)]
    from: Option<Value>,
    #[serde(default)]
    to: Option<Value>,
    #[serde(default)]
    trunk_name: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    member_status: Option<String>,
}

#[derive(Deserialize)]
struct Cdr {
    call_id: Value,
    #[serde(default)]
    call_from: Option<Value>,
    #[serde(default)]
    call_to: Option<Value>,
    #[serde(default)]
    call_duration: Option<Value>,
    #[serde(default)]
    talk_duration: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    recording: Option<String>,
}

fn from_msg<T: serde::de::DeserializeOwned>(msg: &Value) -> Result<T, ParseError> {
    T::deserialize(msg).map_err(|e| ParseError::Shape(format!("msg: {e}")))
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string or number as text; ids are never floats.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn opt_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(text_of).filter(|s| !s.is_empty())
}

fn call_status(
    msg: &Value,
    env: Envelope,
    failed: bool,
    notes: &mut Vec<String>,
) -> Result<CallUpdate, ParseError> {
    let m: CallMsg = from_msg(msg)?;
    let call_id = text_of(&m.call_id);
    if call_id.is_empty() {
        return Err(ParseError::Shape("msg has an empty call_id".into()));
    }
    let at: DateTime<Utc> = env.received_at;
    let mut u = CallUpdate {
        call_id,
        seq: env.id,
        ..Default::default()
    };
    let mut trunk_seen = false;
    let mut caller_ext = None;
    let mut callee_ext = None;
    let mut all_ended = !m.members.is_empty();
    for entry in &m.members {
        let Some((kind, body)) = entry.iter().next() else {
            continue;
        };
        let member: Member = serde_json::from_value(body.clone())
            .map_err(|e| ParseError::Shape(format!("member {kind}: {e}")))?;
        let status = member.member_status.clone().unwrap_or_default();
        let mapped = yeastar_member_status(&status);
        let (state, hold) = match mapped {
            Mapped::Leg(s, h) => (s, h),
            Mapped::PostCall | Mapped::Unknown => {
                notes.push(format!(
                    "unknown member_status {status:?} for {kind} member: leg unchanged"
                ));
                all_ended = false;
                continue;
            }
        };
        if state != LegState::Ended {
            all_ended = false;
        }
        let channel = member
            .channel_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let mut leg = LegUpdate {
            leg_id: String::new(),
            kind: kind.clone(),
            extension: None,
            extension_name: None,
            party: None,
            state,
            on_hold: hold,
            started_at: Some(at),
            answered_at: (state == LegState::InCall).then_some(at),
            ended_at: (state == LegState::Ended).then_some(at),
        };
        match kind.as_str() {
            "extension" => {
                let number = opt_text(&member.number)
                    .ok_or_else(|| ParseError::Shape("extension member without number".into()))?;
                // The caller's words are ALERT/ANSWERED, the callee's RING/ANSWER.
                match status.trim().to_ascii_uppercase().as_str() {
                    "ALERT" | "ANSWERED" if caller_ext.is_none() => {
                        caller_ext = Some(number.clone())
                    }
                    "RING" | "ANSWER" if callee_ext.is_none() => callee_ext = Some(number.clone()),
                    _ => {}
                }
                leg.leg_id = channel.map_or_else(|| format!("ext:{number}"), str::to_string);
                leg.party = Some(number.clone());
                leg.extension = Some(number);
            }
            "inbound" | "outbound" => {
                trunk_seen = true;
                if u.direction.is_none() {
                    u.direction = Some(kind.clone());
                    u.from_number = opt_text(&member.from);
                    u.to_number = opt_text(&member.to);
                }
                let trunk = member.trunk_name.clone().filter(|t| !t.trim().is_empty());
                leg.leg_id = channel.map_or_else(
                    || format!("{kind}:{}", trunk.clone().unwrap_or_default()),
                    str::to_string,
                );
                leg.party = trunk;
            }
            other => {
                notes.push(format!("unknown member kind {other:?}: ignored"));
                continue;
            }
        }
        u.legs.push(leg);
    }
    if !trunk_seen && (caller_ext.is_some() || callee_ext.is_some()) {
        u.direction = Some("internal".into());
        u.from_number = caller_ext;
        u.to_number = callee_ext;
    }
    let any = |s: LegState| u.legs.iter().any(|l| l.state == s);
    u.started_at = Some(at);
    if any(LegState::InCall) {
        u.answered_at = Some(at);
    }
    u.ends_call = failed || all_ended;
    if u.ends_call {
        u.ended_at = Some(at);
    }
    Ok(u)
}

fn cdr(msg: &Value, env: Envelope) -> Result<CallUpdate, ParseError> {
    let c: Cdr = from_msg(msg)?;
    let call_id = text_of(&c.call_id);
    if call_id.is_empty() {
        return Err(ParseError::Shape("CDR has an empty call_id".into()));
    }
    let secs = |v: &Option<Value>| {
        v.as_ref()
            .and_then(int_of)
            .and_then(|n| i32::try_from(n).ok())
    };
    Ok(CallUpdate {
        call_id,
        seq: env.id,
        authoritative: true,
        ends_call: true,
        direction: c.kind.map(|k| k.trim().to_ascii_lowercase()),
        from_number: opt_text(&c.call_from),
        to_number: opt_text(&c.call_to),
        started_at: None,
        answered_at: None,
        ended_at: Some(env.received_at),
        talk_seconds: secs(&c.talk_duration),
        duration_seconds: secs(&c.call_duration),
        disposition: c.status.map(|s| s.trim().to_ascii_lowercase()),
        recording_url: c.recording.filter(|r| !r.trim().is_empty()),
        legs: Vec::new(),
    })
}
