//! Yeastar P-Series webhook events: the envelope, `msg` as a JSON string or
//! object, and the events: call status and its members (`members.rs`), the
//! CDR (`cdr.rs`), extension registration, call status, presence and
//! uaCSTA (`extension.rs`), queue agents (`agents.rs`).

mod agents;
mod cdr;
mod extension;
mod members;

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::event::{Effect, Envelope, ParseError, Parsed};
use crate::status::yeastar_event_type;
use crate::wire::{object, Scalar};

/// The envelope: the event id, and `msg` as a JSON string (borrowed when
/// it can be) or anything else (read again from the body as what the event
/// id says).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    msg: Option<MsgField<'a>>,
}

/// `msg` as found in the envelope.
enum MsgField<'a> {
    /// A JSON string holding the event's JSON (most events).
    Json(Cow<'a, str>),
    /// An object (the queue agent events), or any other value.
    Inline,
}

impl<'de: 'a, 'a> Deserialize<'de> for MsgField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Str(s) => MsgField::Json(s),
            _ => MsgField::Inline,
        })
    }
}

/// Where an event's `msg` is read from.
enum Msg<'a> {
    /// The text of a string `msg`.
    Json(Cow<'a, str>),
    /// `msg` itself, in this body.
    Inline(&'a [u8]),
    /// No `msg` (or null).
    Null,
}

/// The body with its `msg` read as `T`, for a `msg` that is no string.
#[derive(Deserialize)]
struct Wrap<T> {
    msg: T,
}

impl Msg<'_> {
    /// `msg` read as `T`, straight from the bytes; a shape error naming what
    /// is wrong, or the JSON error of a string `msg` that is not JSON.
    fn read<'s, T: Deserialize<'s>>(&'s self) -> Result<T, ParseError> {
        let shape = |e: serde_json::Error| match e.classify() {
            serde_json::error::Category::Data => ParseError::Shape(format!("msg: {e}")),
            _ => ParseError::Json(e),
        };
        match self {
            Msg::Json(s) => serde_json::from_str(s).map_err(shape),
            Msg::Inline(body) => serde_json::from_slice::<Wrap<T>>(body)
                .map(|w| w.msg)
                .map_err(shape),
            Msg::Null => T::deserialize(serde_json::Value::Null)
                .map_err(|e| ParseError::Shape(format!("msg: {e}"))),
        }
    }
}

/// Parses a Yeastar webhook body. Unknown event ids parse as
/// [`Effect::Ignored`]; a malformed known event is an error.
pub fn parse(body: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    if !object(body)? {
        return Err(ParseError::Shape("envelope is not a JSON object".into()));
    }
    let head: Head<'_> = serde_json::from_slice(body)?;
    let id = head
        .kind
        .as_ref()
        .and_then(Scalar::int)
        .ok_or_else(|| ParseError::Shape("envelope has no integer `type`".into()))?;
    let event_type = yeastar_event_type(id);
    let msg = match head.msg {
        Some(MsgField::Json(s)) => Msg::Json(s),
        Some(MsgField::Inline) => Msg::Inline(body),
        None => Msg::Null,
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
        _ => {
            // A string `msg` must still be JSON, whatever the event.
            if let Msg::Json(s) = &msg {
                serde_json::from_str::<IgnoredAny>(s)?;
            }
            Effect::Ignored
        }
    };
    Ok(Parsed {
        event_type,
        effect,
        notes,
    })
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
