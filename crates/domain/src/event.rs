//! Provider-neutral domain events: what one webhook says about calls, legs
//! and extensions, after parsing and status mapping.

use chrono::{DateTime, Utc};

/// The kind of sender a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Yeastar,
    Dialpad,
    Standard,
}

impl Provider {
    /// The name stored in `sources.provider`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Yeastar => "yeastar",
            Provider::Dialpad => "dialpad",
            Provider::Standard => "standard",
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "yeastar" => Ok(Provider::Yeastar),
            "dialpad" => Ok(Provider::Dialpad),
            "standard" => Ok(Provider::Standard),
            other => Err(format!(
                "unknown provider {other:?} (expected yeastar, dialpad or standard)"
            )),
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one party of a call. Ordered: a leg only moves forward, and
/// `Ended` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegState {
    Ringing,
    InCall,
    Ended,
}

impl LegState {
    /// The word stored in `call_legs.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            LegState::Ringing => "ringing",
            LegState::InCall => "incall",
            LegState::Ended => "ended",
        }
    }

    /// Parses `call_legs.state`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(LegState::Ringing),
            "incall" => Some(LegState::InCall),
            "ended" => Some(LegState::Ended),
            _ => None,
        }
    }
}

/// The status of a call. Ordered: ringing -> active -> ended, never back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallStatus {
    Ringing,
    Active,
    Ended,
}

impl CallStatus {
    /// The word stored in `calls.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ringing => "ringing",
            CallStatus::Active => "active",
            CallStatus::Ended => "ended",
        }
    }

    /// Parses `calls.status`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(CallStatus::Ringing),
            "active" => Some(CallStatus::Active),
            "ended" => Some(CallStatus::Ended),
            _ => None,
        }
    }
}

/// The status of an extension shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionStatus {
    Ringing,
    InCall,
    Online,
    Offline,
}

impl ExtensionStatus {
    /// The word stored in `extensions.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExtensionStatus::Ringing => "ringing",
            ExtensionStatus::InCall => "incall",
            ExtensionStatus::Online => "online",
            ExtensionStatus::Offline => "offline",
        }
    }
}

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

/// What one event says about one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallUpdate {
    /// The conversation id (Yeastar `call_id`; Dialpad entry point, master
    /// or own `call_id`).
    pub call_id: String,
    /// The event's position in the call's history: the provider's timestamp
    /// (epoch ms) where it has one, else the inbox id (arrival order).
    pub seq: i64,
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
    pub legs: Vec<LegUpdate>,
}

/// What a parsed webhook does.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A call state change, an end record or a post-call event.
    Call(CallUpdate),
    /// Extension registered (online) or unregistered (offline).
    Registration {
        extension: String,
        registered: bool,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// A status the provider reports for an extension or agent (Yeastar
    /// 30008, Dialpad agent status): recorded, but the shown status derives
    /// from legs and registration.
    Reported {
        extension: String,
        name: Option<String>,
        status: String,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// The presence a person set on their extension (Yeastar 30009): one of
    /// `available`, `away`, `dnd`, `lunch`, `business_trip`, `off_work`, or
    /// `unknown:<word>` for any other word (kept, never guessed). Shown
    /// beside the status, never mixed into it. Last one by sequence wins.
    Presence {
        extension: String,
        presence: String,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// A uaCSTA call report (Yeastar 30020). Its `call_id` is a different id
    /// space from the call events': it is recorded on its own (the last
    /// operation by sequence, `call_over` final) and changes no call, leg or
    /// extension.
    Csta(CstaReport),
    /// Understood and deliberately not applied (an event type this system
    /// does not use).
    Ignored,
}

/// What one uaCSTA call report (Yeastar 30020) says.
#[derive(Debug, Clone, PartialEq)]
pub struct CstaReport {
    /// The uaCSTA call id (not a 30011 call id).
    pub call_id: String,
    /// `call_start`, `call_answer`, `call_over`, or any other word as sent
    /// (trimmed, lower-case).
    pub operation: String,
    pub extension: Option<String>,
    pub ip_address: Option<String>,
    /// Inbox id: arrival order.
    pub seq: i64,
    pub at: DateTime<Utc>,
}

impl CstaReport {
    /// The order of reports of one call: `call_over` is final, else the
    /// later by sequence wins. A total order, so keeping the greatest is
    /// order-independent.
    pub fn rank(&self) -> (bool, i64) {
        csta_rank(&self.operation, self.seq)
    }
}

/// The rank of a uaCSTA operation at sequence `seq` ([`CstaReport::rank`]).
pub fn csta_rank(operation: &str, seq: i64) -> (bool, i64) {
    (operation == "call_over", seq)
}

/// A parsed webhook: its type label (stored in `webhook_events.event_type`),
/// what it does, and notes worth logging (unknown statuses kept, not guessed).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub event_type: String,
    pub effect: Effect,
    pub notes: Vec<String>,
}

/// Why a webhook could not be parsed. The event is recorded as failed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unexpected shape: {0}")]
    Shape(String),
    #[error(transparent)]
    Signature(#[from] crate::signature::SignatureError),
}

/// The inbox row facts a parser needs besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    /// `webhook_events.id`: arrival order.
    pub id: i64,
    /// `webhook_events.received_at`.
    pub received_at: DateTime<Utc>,
}
