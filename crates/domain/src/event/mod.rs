//! Provider-neutral domain events: what one webhook says about calls, legs,
//! queues, agents and extensions, after parsing and status mapping. The
//! call facts are in `call.rs`, the agent facts in `agent.rs`, what a whole
//! webhook does in `effect.rs`.

mod agent;
mod call;
mod effect;

use chrono::{DateTime, Utc};

pub use agent::{agent_status_word, AgentChange, AgentUpdate, AGENT_STATUSES};
pub use call::{CallUpdate, CdrTimes, LegUpdate, QueueUpdate};
pub use effect::{csta_rank, CstaReport, Effect};

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
