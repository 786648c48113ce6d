//! Dialpad API v2 webhooks: call events, one per state change per leg
//! (`call.rs`), and call-center agent status events (`agent.rs`).

mod agent;
mod call;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::event::{Effect, Envelope, ParseError, Parsed};
use crate::signature::dialpad_claims;
use crate::wire::{object, present, Scalar, Text};

/// The Dialpad party of a leg or an agent event (`target`).
#[derive(Deserialize, Default)]
struct Target<'a> {
    #[serde(default, borrow)]
    id: Option<Scalar<'a>>,
    #[serde(default, rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(default, borrow)]
    name: Option<Text<'a>>,
    #[serde(default, borrow)]
    phone: Option<Text<'a>>,
}

/// Which keys the claims have (null values included): what kind of event
/// they are.
#[derive(Deserialize)]
struct Keys {
    #[serde(default, deserialize_with = "present")]
    call_id: bool,
    #[serde(default, deserialize_with = "present")]
    state: bool,
    #[serde(default, deserialize_with = "present")]
    on_duty_status: bool,
}

/// Parses a Dialpad webhook body (a verified JWT or plain JSON). Unknown
/// call states are kept as `call.<state>` and change nothing; a body that is
/// neither a call nor an agent status event is [`Effect::Ignored`].
pub fn parse(body: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    let claims = dialpad_claims(body)?;
    if !object(&claims)? {
        return Err(ParseError::Shape("claims are not a JSON object".into()));
    }
    // Most events are call events: read as one in a single pass. Claims
    // that do not read as a well-formed one are sorted by their keys, and
    // read again as what those say (errors included), as before.
    if let Some(ev) = call::as_call_event(&claims) {
        return call::call_event_of(ev, env);
    }
    let keys: Keys = serde_json::from_slice(&claims)?;
    if keys.call_id && keys.state {
        return call::call_event(&claims, env);
    }
    if keys.on_duty_status {
        return agent::agent_status(&claims, env);
    }
    Ok(Parsed {
        event_type: "dialpad.unknown".into(),
        effect: Effect::Ignored,
        notes: Vec::new(),
    })
}

/// Claims read as `T` straight from their bytes; a shape error naming
/// `what` otherwise.
fn read<'a, T: Deserialize<'a>>(claims: &'a [u8], what: &str) -> Result<T, ParseError> {
    serde_json::from_slice(claims).map_err(|e| ParseError::Shape(format!("{what}: {e}")))
}

fn millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn time_of(v: &Option<Scalar<'_>>) -> Option<DateTime<Utc>> {
    v.as_ref().and_then(Scalar::ms).and_then(millis)
}

/// The event's position: `event_timestamp` (else `fallback`, else the
/// arrival), in epoch ms.
fn seq_of(ts: &Option<Scalar<'_>>, fallback: &Option<Scalar<'_>>, env: Envelope) -> i64 {
    ts.as_ref()
        .or(fallback.as_ref())
        .and_then(Scalar::ms)
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
