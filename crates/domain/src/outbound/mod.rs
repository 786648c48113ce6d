//! Events out: the normalized events integrators receive (webhooks and the
//! board's stream), derived from what a batch changed, never from the raw
//! webhooks. Each rule compares a row as loaded (under its lock) with the
//! same row as written, so a duplicate or a late webhook that changes
//! nothing emits nothing, and a change emits its event once: the next
//! transaction to lock the row loads the row as written.
//!
//! One schema for both providers, versioned ([`VERSION`]): the body is
//! `{"type", "timestamp", "data"}` (Standard Webhooks), `data` carries the
//! event id, the version, the source and its provider, and the provider's
//! ids. A JSON Schema per type lives in `docs/events/`.
//!
//! Here: the event and its body; `calls.rs` the call and queue events,
//! `state.rs` the extension and agent events.

mod calls;
mod state;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use calls::{call_events, CallChange};
pub use state::{agent_events, extension_events, AgentChangeRow, ExtensionChange};

/// The schema version every event's `data.version` carries.
pub const VERSION: u32 = 1;

/// Every event type, in the order the docs list them.
pub const TYPES: [&str; 13] = [
    "call.ringing",
    "call.answered",
    "call.held",
    "call.resumed",
    "call.transferred",
    "call.ended",
    "call.missed",
    "call.updated",
    "extension.status_changed",
    "extension.presence_changed",
    "agent.status_changed",
    "queue.caller_waiting",
    "queue.caller_left",
];

/// One normalized event, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutEvent {
    /// One of [`TYPES`].
    pub event_type: &'static str,
    pub source: String,
    /// The ordering key: events of one subject are delivered in order.
    pub subject: String,
    /// When the change happened (the provider's time where known).
    pub occurred_at: DateTime<Utc>,
    /// The type's own fields (`call`, `leg`, `extension`, ...).
    pub fields: Fields,
}

impl OutEvent {
    /// Writes the body delivered, `{"type", "timestamp", "data"}`, with
    /// `data` holding `id`, `version`, `source`, `provider` and the type's
    /// fields, to the end of `out` (serialized straight from the event: no
    /// JSON tree is built). The outbox sets `id` and `provider` as it
    /// stores the event.
    pub fn write_payload(
        &self,
        out: &mut Vec<u8>,
        event_id: &str,
        provider: &str,
    ) -> Result<(), serde_json::Error> {
        out.extend_from_slice(b"{\"type\":");
        serde_json::to_writer(&mut *out, self.event_type)?;
        out.extend_from_slice(b",\"timestamp\":");
        serde_json::to_writer(&mut *out, &Millis(self.occurred_at))?;
        out.extend_from_slice(b",\"data\":{\"id\":");
        serde_json::to_writer(&mut *out, event_id)?;
        out.extend_from_slice(b",\"version\":");
        serde_json::to_writer(&mut *out, &VERSION)?;
        out.extend_from_slice(b",\"source\":");
        serde_json::to_writer(&mut *out, &self.source)?;
        out.extend_from_slice(b",\"provider\":");
        serde_json::to_writer(&mut *out, provider)?;
        if !self.fields.0.is_empty() {
            out.push(b',');
            out.extend_from_slice(&self.fields.0);
        }
        out.extend_from_slice(b"}}");
        Ok(())
    }
}

/// The type's own fields of an event: the members of a JSON object
/// (`"call":{...},"leg":{...}`), written straight from the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<u8>);

impl Fields {
    /// These fields and `key`: `value`.
    pub fn with<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Fields {
        let mark = self.0.len();
        if mark > 0 {
            self.0.push(b',');
        }
        let written = serde_json::to_writer(&mut self.0, key).and_then(|()| {
            self.0.push(b':');
            serde_json::to_writer(&mut self.0, value)
        });
        if written.is_err() {
            // Not expected (the values are plain structs): the field is
            // left out rather than half written.
            self.0.truncate(mark);
        }
        self
    }
}

/// A time as events show it: RFC 3339 in UTC with milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Millis(pub DateTime<Utc>);

impl Serialize for Millis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

/// An optional time as events show it (JSON null when unknown).
pub(crate) fn time(t: Option<DateTime<Utc>>) -> Option<Millis> {
    t.map(Millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone};
    use serde_json::{json, Value};

    impl Fields {
        /// The fields as a JSON object.
        fn to_value(&self) -> Value {
            let mut text = Vec::with_capacity(self.0.len() + 2);
            text.push(b'{');
            text.extend_from_slice(&self.0);
            text.push(b'}');
            serde_json::from_slice(&text).unwrap_or(Value::Null)
        }
    }

    /// The body is the JSON the schema describes, times in RFC 3339 UTC
    /// with milliseconds, `data`'s common fields then the type's.
    #[test]
    fn the_payload_is_written_straight_from_the_event() {
        let at = Utc.timestamp_opt(1_765_000_000, 123_456_789).single();
        let Some(at) = at else {
            panic!("a valid time");
        };
        let e = OutEvent {
            event_type: "call.held",
            source: "pbx \"main\"".into(),
            subject: "call:pbx:1".into(),
            occurred_at: at,
            fields: Fields::default()
                .with("leg", &json!({"leg_id": "1", "on_hold": true}))
                .with("call", &json!({"call_id": "1"})),
        };
        let mut out = b"[".to_vec();
        e.write_payload(&mut out, "evt_1", "yeastar").unwrap();
        let body: Value = serde_json::from_slice(&out[1..]).unwrap();
        assert_eq!(
            body,
            json!({
                "type": "call.held",
                "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "data": {
                    "id": "evt_1", "version": VERSION, "source": "pbx \"main\"",
                    "provider": "yeastar",
                    "leg": {"leg_id": "1", "on_hold": true},
                    "call": {"call_id": "1"},
                },
            })
        );
        assert_eq!(body["timestamp"], "2025-12-06T05:46:40.123Z");
        assert_eq!(
            e.fields.to_value(),
            json!({"leg": {"leg_id": "1", "on_hold": true}, "call": {"call_id": "1"}})
        );
        // No fields of its own: `data` holds the common ones alone.
        let bare = OutEvent {
            fields: Fields::default(),
            ..e
        };
        let mut out = Vec::new();
        bare.write_payload(&mut out, "", "").unwrap();
        let body: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(body["data"].as_object().map(|m| m.len()), Some(4));
    }
}
