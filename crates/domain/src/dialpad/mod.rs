//! Dialpad API v2 webhooks: call events, one per state change per leg
//! (`call.rs`), and call-center agent status events (`agent.rs`).

mod agent;
mod call;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::event::{Effect, Envelope, ParseError, Parsed};
use crate::signature::dialpad_claims;

/// The Dialpad party of a leg or an agent event (`target`).
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
        return call::call_event(root, env);
    }
    if obj.contains_key("on_duty_status") {
        return agent::agent_status(root, env);
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

/// The event's position: `event_timestamp` (else `fallback`, else the
/// arrival), in epoch ms.
fn seq_of(ts: &Option<Value>, fallback: &Option<Value>, env: Envelope) -> i64 {
    ts.as_ref()
        .or(fallback.as_ref())
        .and_then(ms_of)
        .unwrap_or_else(|| env.received_at.timestamp_millis())
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
