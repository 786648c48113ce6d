//! What one event says about a call: the call itself, each of its legs, the
//! queues it went through, and the times its CDR gives in the PBX's clock.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::LegState;

/// What one event says about one leg.
#[derive(Debug, Clone, PartialEq)]
pub struct LegUpdate {
    /// Unique within the call: Yeastar `channel_id`, Dialpad leg `call_id`.
    pub leg_id: String,
    /// `extension`, `inbound`, `outbound` (Yeastar), or the Dialpad target type.
    pub kind: String,
    /// The extension this leg belongs to, if it is a person's.
    pub extension: Option<String>,
    /// The extension's display name, where the provider gives one.
    pub extension_name: Option<String>,
    /// Trunk name, number or target name: who this party is.
    pub party: Option<String>,
    /// The provider's channel of this party (Yeastar member `channel_id`),
    /// the handle the PBX API hangs it up by; `None` where there is none
    /// (Dialpad: the leg id is the call id its API takes).
    pub channel_id: Option<String>,
    pub state: LegState,
    /// `Some(true)` on hold, `Some(false)` talking; `None` when the event
    /// says nothing about hold (ringing, ended).
    pub on_hold: Option<bool>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// What one event says about a queue (or ring group) the call is in: a
/// Yeastar member's `call_path`, a Dialpad call centre leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUpdate {
    /// The queue's identity: its number (`queue-6402` is kept as `6402`),
    /// or the Dialpad call centre id.
    pub queue: String,
    /// When the call was in the queue (Dialpad `date_queued`, else the
    /// event's time): the earliest is when it entered.
    pub entered_at: DateTime<Utc>,
    /// The provider's own answer of the queue's leg (Dialpad call centre leg
    /// `date_connected`); `None` where the provider says nothing of it (the
    /// answer is then read from the legs of the agents).
    pub connected_at: Option<DateTime<Utc>>,
}

/// The times a Yeastar CDR gives in the PBX's wall clock: resolved to
/// instants in the source's time zone when the event is applied (see
/// [`crate::merge::Zone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdrTimes {
    /// `time_start`: the PBX's local time, no zone.
    pub start_local: NaiveDateTime,
    /// Seconds from the start to the answer (`call_duration -
    /// talk_duration`) when the call was answered, else `None`.
    pub answered_after: Option<i32>,
}

/// What one event says about one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallUpdate {
    /// The conversation id (Yeastar `call_id`; Dialpad entry point, master
    /// or own `call_id`).
    pub call_id: String,
    /// The event's position in the call's history: the provider's timestamp
    /// (epoch ms) where it has one, else the inbox id (arrival order).
    pub seq: i64,
    /// The time the event describes: the provider's event time (Dialpad
    /// `event_timestamp`), else its arrival. `None` only in hand-made
    /// updates.
    pub at: Option<DateTime<Utc>>,
    /// True when this event is the authoritative record of the call (the
    /// Yeastar CDR): its call details win over any other event's.
    pub authoritative: bool,
    /// The event ends the whole call (CDR, all members hung up, the Dialpad
    /// master leg ended, a failed call).
    pub ends_call: bool,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub talk_seconds: Option<i32>,
    pub duration_seconds: Option<i32>,
    pub disposition: Option<String>,
    pub recording_url: Option<String>,
    /// Why the call failed (Yeastar 30015 `reason`, trimmed, as sent).
    pub failure_reason: Option<String>,
    /// The CDR's own times, used only where no live event gave them.
    pub cdr_times: Option<CdrTimes>,
    pub legs: Vec<LegUpdate>,
    /// The queues this event places the call in.
    pub queues: Vec<QueueUpdate>,
}
