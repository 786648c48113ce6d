//! Yeastar P-Series webhook events: the envelope, `msg` as a JSON string or
//! object, and the events: call status and its members (`members.rs`), the
//! CDR (`cdr.rs`), extension registration, call status, presence and
//! uaCSTA (`extension.rs`), queue agents (`agents.rs`).

mod agents;
mod cdr;
mod extension;
mod members;

use serde_json::Value;

use crate::event::{Effect, Envelope, ParseError, Parsed};
use crate::status::yeastar_event_type;

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
        30011 | 30013 | 30014 | 30016 => {
            Effect::Call(members::call_status(&msg, env, false, &mut notes)?)
        }
        30015 => Effect::Call(members::call_status(&msg, env, true, &mut notes)?),
        30012 => Effect::Call(cdr::cdr(&msg, env, &mut notes)?),
        30007 => extension::registration(&msg, env, &mut notes)?,
        30008 => extension::reported(&msg, env)?,
        30009 => extension::presence(&msg, env, &mut notes)?,
        30020 => Effect::Csta(extension::csta(&msg, env)?),
        30025 => Effect::Agent(agents::auto_pause(&msg, env, &mut notes)?),
        30026 => Effect::Agent(agents::ring_timeout(&msg, env, &mut notes)?),
        30029 => Effect::Agent(agents::status(&msg, env, &mut notes)?),
        _ => Effect::Ignored,
    };
    Ok(Parsed {
        event_type,
        effect,
        notes,
    })
}

/// `msg` read as `T`; a shape error naming what is wrong otherwise.
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

/// A queue (or ring group, IVR...) as the PBX names it (30011 `call_path`,
/// 30029 `queue_number`), as its identity: trimmed, `queue-6402` as `6402`
/// (any case); `None` when blank (`""`, `" "`: the call went through none).
/// A name of any other shape is kept as it is, with a note saying so: the
/// PBX gives no kind for a bare number, so an IVR's number counts as a
/// queue too.
fn queue_of(name: &str, notes: &mut Vec<String>) -> Option<String> {
    let t = name.trim();
    if t.is_empty() {
        return None;
    }
    let bare = match t.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("queue-") => t[6..].trim(),
        _ => t,
    };
    if bare.is_empty() {
        notes.push(format!("queue name {name:?} without a number: ignored"));
        return None;
    }
    if !bare.bytes().all(|b| b.is_ascii_alphanumeric()) {
        notes.push(format!("queue name {name:?} kept as {bare:?}"));
    }
    Some(bare.to_string())
}

#[cfg(test)]
mod tests {
    use super::queue_of;

    #[test]
    fn queue_names() {
        let mut notes = Vec::new();
        for (name, want) in [
            ("queue-6402", Some("6402")),
            ("Queue-6402 ", Some("6402")),
            ("6402", Some("6402")),
            ("", None),
            ("  ", None),
        ] {
            assert_eq!(queue_of(name, &mut notes).as_deref(), want, "{name:?}");
        }
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            queue_of("ivr-6500>6402", &mut notes).as_deref(),
            Some("ivr-6500>6402")
        );
        assert_eq!(notes.len(), 1, "kept, and said so");
        assert_eq!(queue_of("queue-", &mut notes), None);
    }
}
