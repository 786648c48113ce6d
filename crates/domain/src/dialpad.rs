//! Dialpad API v2 webhooks: call events (one per state change per leg) and
//! call-center agent status events.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::event::{CallUpdate, Effect, Envelope, LegState, LegUpdate, ParseError, Parsed};
use crate::signature::dialpad_claims;
use crate::status::{dialpad_event_type, dialpad_state, Mapped};

#[derive(Deserialize, Default)]
struct Target {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Deserialize)]
struct RecordingDetail {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct CallEvent {
    call_id: Value,
    #[serde(default)]
    master_call_id: Option<Value>,
    #[serde(default)]
    entry_point_call_id: Option<Value>,
    state: String,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    date_started: Option<Value>,
    #[serde(default)]
    date_connected: Option<Value>,
    #[serde(default)]
    date_ended: Option<Value>,
    #[serde(default)]
    event_timestamp: Option<Value>,
    #[serde(default)]
    duration: Option<Value>,
    #[serde(default)]
    total_duration: Option<Value>,
    #[serde(default)]
    external_number: Option<String>,
    #[serde(default)]
    internal_number: Option<String>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    recording_details: Option<Vec<RecordingDetail>>,
    #[serde(default)]
    recording_url: Option<Value>,
}

#[derive(Deserialize)]
struct AgentStatus {
    target: Target,
    on_duty_status: String,
    #[serde(default)]
    event_timestamp: Option<Value>,
    #[serde(default)]
    date: Option<Value>,
}

/// Parses a Dialpad webhook body (a verified JWT or plain JSON). Unknown
/// call states are kept as `call.<state>` and change nothing; a body that is
/// neither a call nor an agent status event is [`Effect::Ignored`].
pub fn parse(body: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    let claims = dialpad_claims(body)?;
    let root: Value = serde_json::from_slice(&claims)?;
    let obj = root
        .as_object()
        .ok_or_else(|| ParseError::Shape("claims are not a JSON object".into()))?;
    if obj.contains_key("call_id") && obj.contains_key("state") {
        let ev: CallEvent = serde_json::from_value(root.clone())
            .map_err(|e| ParseError::Shape(format!("call event: {e}")))?;
        return call_event(ev, env);
    }
    if obj.contains_key("on_duty_status") {
        let ev: AgentStatus = serde_json::from_value(root.clone())
            .map_err(|e| ParseError::Shape(format!("agent status event: {e}")))?;
        let extension = ev
            .target
            .id
            .as_ref()
            .map(id_text)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ParseError::Shape("agent status without target.id".into()))?;
        let seq = ev
            .event_timestamp
            .as_ref()
            .or(ev.date.as_ref())
            .and_then(ms_of)
            .unwrap_or_else(|| env.received_at.timestamp_millis());
        return Ok(Parsed {
            event_type: "agent.status".into(),
            effect: Effect::Reported {
                extension,
                name: ev.target.name,
                status: ev.on_duty_status,
                seq,
                at: millis(seq).unwrap_or(env.received_at),
            },
            notes: Vec::new(),
        });
    }
    Ok(Parsed {
        event_type: "dialpad.unknown".into(),
        effect: Effect::Ignored,
        notes: Vec::new(),
    })
}

/// An id (number of up to 19 digits, or string) as text, never via a float.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn opt_id(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(id_text).filter(|s| !s.is_empty())
}

/// Epoch milliseconds from a number (possibly fractional) or numeric string.
fn ms_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

fn millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn time_of(v: &Option<Value>) -> Option<DateTime<Utc>> {
    v.as_ref().and_then(ms_of).and_then(millis)
}

fn recording_of(ev: &CallEvent) -> Option<String> {
    let from_details = ev
        .recording_details
        .as_ref()
        .and_then(|d| d.iter().find_map(|r| r.url.clone()))
        .filter(|u| !u.is_empty());
    let from_field = match &ev.recording_url {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Array(a)) => a
            .iter()
            .find_map(|v| v.as_str().map(str::to_string))
            .filter(|u| !u.is_empty()),
        _ => None,
    };
    from_details.or(from_field)
}

/// The parsed call event: a call update carrying this leg's state (unless
/// the state is a post-call or unknown one, which changes no leg), and the
/// call's end when this is its master leg ending. Errors on an empty
/// `call_id`.
fn call_event(ev: CallEvent, env: Envelope) -> Result<Parsed, ParseError> {
    let (leg_id, call_id) = ids_of(&ev)?;
    let mut u = call_details(&ev, call_id, env);
    let mut notes = Vec::new();
    match dialpad_state(&ev.state) {
        Mapped::Leg(state, hold) => {
            let leg = leg_of(&ev, leg_id, state, hold, env);
            if state == LegState::Ended && leg.leg_id == u.call_id {
                end_call(&mut u, &ev, leg.ended_at);
            }
            u.legs.push(leg);
        }
        Mapped::PostCall => {}
        Mapped::Unknown => {
            notes.push(format!(
                "unknown Dialpad call state {:?}: leg unchanged",
                ev.state
            ));
        }
    }
    Ok(Parsed {
        event_type: dialpad_event_type(&ev.state),
        effect: Effect::Call(u),
        notes,
    })
}

/// The event's leg id (its own `call_id`) and the id of the call it belongs
/// to: the entry point's, else the master's, else the leg's own. Errors on
/// an empty `call_id`.
fn ids_of(ev: &CallEvent) -> Result<(String, String), ParseError> {
    let leg_id = id_text(&ev.call_id);
    if leg_id.is_empty() {
        return Err(ParseError::Shape("call event with an empty call_id".into()));
    }
    let call_id = opt_id(&ev.entry_point_call_id)
        .or_else(|| opt_id(&ev.master_call_id))
        .unwrap_or_else(|| leg_id.clone());
    Ok((leg_id, call_id))
}

/// The call update of call `call_id` with what every call event says about
/// the call: its position (the event timestamp, else the arrival time),
/// direction, numbers, start and answer times and recording. No legs yet.
fn call_details(ev: &CallEvent, call_id: String, env: Envelope) -> CallUpdate {
    let seq = ev
        .event_timestamp
        .as_ref()
        .and_then(ms_of)
        .unwrap_or_else(|| env.received_at.timestamp_millis());
    let (from_number, to_number) = numbers_of(ev);
    CallUpdate {
        call_id,
        seq,
        direction: ev.direction.clone(),
        from_number,
        to_number,
        started_at: time_of(&ev.date_started),
        answered_at: time_of(&ev.date_connected),
        recording_url: recording_of(ev),
        ..Default::default()
    }
}

/// The call's (from, to) numbers, each `None` when empty: internal to
/// external for an outbound call, else external to internal.
fn numbers_of(ev: &CallEvent) -> (Option<String>, Option<String>) {
    let (from, to) = match ev.direction.as_deref() {
        Some("outbound") => (ev.internal_number.clone(), ev.external_number.clone()),
        _ => (ev.external_number.clone(), ev.internal_number.clone()),
    };
    (from.filter(|s| !s.is_empty()), to.filter(|s| !s.is_empty()))
}

/// The leg `leg_id` in `state`: its party is the event's target (an
/// extension when the target is a user), and an ended leg ends at
/// `date_ended`, else on arrival.
fn leg_of(
    ev: &CallEvent,
    leg_id: String,
    state: LegState,
    hold: Option<bool>,
    env: Envelope,
) -> LegUpdate {
    let no_target = Target::default();
    let target = ev.target.as_ref().unwrap_or(&no_target);
    let kind = target.kind.clone().unwrap_or_else(|| "unknown".into());
    let is_user = kind == "user";
    let ended_at = if state == LegState::Ended {
        time_of(&ev.date_ended).or(Some(env.received_at))
    } else {
        None
    };
    LegUpdate {
        leg_id,
        extension: if is_user { opt_id(&target.id) } else { None },
        extension_name: if is_user { target.name.clone() } else { None },
        party: target.name.clone().or(target.phone.clone()),
        // The leg id is the Dialpad call id its hang-up API takes.
        channel_id: None,
        kind,
        state,
        on_hold: hold,
        started_at: time_of(&ev.date_started),
        answered_at: time_of(&ev.date_connected),
        ended_at,
    }
}

/// Marks the call ended at `ended_at` (its master leg has ended), with its
/// talk and total durations and its disposition.
fn end_call(u: &mut CallUpdate, ev: &CallEvent, ended_at: Option<DateTime<Utc>>) {
    u.ends_call = true;
    u.ended_at = ended_at;
    u.talk_seconds = seconds_of(&ev.duration);
    u.duration_seconds = seconds_of(&ev.total_duration);
    u.disposition = Some(disposition_of(&ev.state, u.answered_at));
}

/// A duration in milliseconds as whole seconds, rounded; `None` when absent,
/// not positive or out of range.
fn seconds_of(v: &Option<Value>) -> Option<i32> {
    v.as_ref()
        .and_then(ms_of)
        .and_then(|ms| i32::try_from(ms.saturating_add(500) / 1000).ok())
        .filter(|s| *s > 0)
}

/// The disposition of an ended call: `voicemail` for a voicemail state, else
/// `answered` once connected, else `missed`.
fn disposition_of(state: &str, answered_at: Option<DateTime<Utc>>) -> String {
    match (state, answered_at) {
        ("voicemail", _) => "voicemail",
        (_, Some(_)) => "answered",
        _ => "missed",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: `ms + 500` overflowed (a panic in debug builds).
    #[test]
    fn huge_durations_do_not_overflow() {
        let env = Envelope {
            id: 1,
            received_at: Utc::now(),
        };
        for body in [
            r#"{"call_id":1,"state":"hangup","total_duration":1e30}"#,
            r#"{"call_id":1,"state":"hangup","duration":9223372036854775807}"#,
        ] {
            let r = std::panic::catch_unwind(|| parse(body.as_bytes(), env));
            assert!(r.is_ok(), "{body} panicked");
        }
    }
}
