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

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

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
    pub fields: Map<String, Value>,
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
        let body = Body {
            event_type: self.event_type,
            timestamp: self
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            data: Data {
                id: event_id,
                version: VERSION,
                source: &self.source,
                provider,
                fields: &self.fields,
            },
        };
        serde_json::to_writer(out, &body)
    }
}

/// The body as written by [`OutEvent::write_payload`].
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: Data<'a>,
}

/// `data`: the common fields, then the type's own (a field of the type's
/// named like a common one comes later and wins, as in `jsonb`).
#[derive(serde::Serialize)]
struct Data<'a> {
    id: &'a str,
    version: u32,
    source: &'a str,
    provider: &'a str,
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
}

/// RFC 3339 in UTC with milliseconds, or JSON null.
pub(crate) fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}
