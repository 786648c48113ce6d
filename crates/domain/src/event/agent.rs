//! What the PBX says about call-centre agents: a status per queue (Yeastar
//! 30029, Dialpad `on_duty_status`), an automatic pause (Yeastar 30025), a
//! ring that timed out (Yeastar 30026); and the words statuses map to.

use chrono::{DateTime, Utc};

use super::Provider;

/// The statuses an agent can have in a queue, as stored in
/// `queue_agents.status` (any other word is kept as `unknown:<word>`).
pub const AGENT_STATUSES: [&str; 6] = [
    "available",
    "paused",
    "wrapup",
    "incall",
    "ringing",
    "loggedout",
];

/// What one event says about one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentUpdate {
    /// The agent: the Yeastar extension number, the Dialpad user id (the
    /// number of the extension the board shows for it).
    pub agent: String,
    /// The agent's name, where the provider gives one (Dialpad).
    pub name: Option<String>,
    /// The queues it applies to: the Yeastar queue (`queue-6402` kept as
    /// `6402`); each Dialpad call centre of `call_center_ids`, or `""` when
    /// the event names none (the agent's status in general).
    pub queues: Vec<String>,
    pub change: AgentChange,
    /// The event's position: Dialpad `event_timestamp`, else the inbox id.
    pub seq: i64,
    pub at: DateTime<Utc>,
}

/// What changed for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChange {
    /// Its status in the queues: one of [`AGENT_STATUSES`] or
    /// `unknown:<word>`, with the reason given for a pause (Yeastar
    /// `reason`, Dialpad `on_duty_status_reason`; an automatic pause after
    /// missed calls says so).
    Status {
        status: String,
        reason: Option<String>,
    },
    /// A queue call rang the agent and timed out (Yeastar 30026).
    RingTimeout { call_id: Option<String> },
}

/// A provider's agent status word (any case, spaces, hyphens or
/// underscores) as one of [`AGENT_STATUSES`], or `unknown:<word>`
/// (normalised) for any other word: kept, never guessed.
///
/// Yeastar: `Paused`/`Pause`; `Unpaused`, `Available`, `Idle`, `Logged In`
/// are available; `Logged Out` is logged out; `Busy`, `Talking`, `In Call`
/// are in call (the word 30008 uses for a call); `Ringing`; `Wrap Up`.
/// Dialpad `on_duty_status`: `available`; `unavailable` and `busy` (set by
/// the agent: not taking calls) are paused; `occupied` is in call;
/// `wrapup`; `off_duty` is logged out.
pub fn agent_status_word(provider: Provider, status: &str) -> String {
    let w: String = status
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    let common = match w.as_str() {
        "available" | "ready" => Some("available"),
        "paused" | "pause" => Some("paused"),
        "wrapup" | "wrap_up" | "after_call_work" => Some("wrapup"),
        "ringing" => Some("ringing"),
        "logged_out" | "loggedout" | "logout" | "log_out" | "off_duty" | "offduty" => {
            Some("loggedout")
        }
        _ => None,
    };
    let specific = match (provider, w.as_str()) {
        (
            Provider::Yeastar,
            "unpaused" | "unpause" | "idle" | "logged_in" | "loggedin" | "login",
        ) => Some("available"),
        (Provider::Yeastar, "busy" | "talking" | "in_call" | "incall") => Some("incall"),
        (Provider::Dialpad, "unavailable" | "busy") => Some("paused"),
        (Provider::Dialpad, "occupied") => Some("incall"),
        _ => None,
    };
    match common.or(specific) {
        Some(s) => s.to_string(),
        None => format!("unknown:{w}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        for (p, w, want) in [
            (Provider::Yeastar, "Paused", "paused"),
            (Provider::Yeastar, "Unpaused", "available"),
            (Provider::Yeastar, "Logged Out", "loggedout"),
            (Provider::Yeastar, "Logged-In", "available"),
            (Provider::Yeastar, "Busy", "incall"),
            (Provider::Yeastar, "wrap up", "wrapup"),
            (Provider::Dialpad, "available", "available"),
            (Provider::Dialpad, "unavailable", "paused"),
            (Provider::Dialpad, "busy", "paused"),
            (Provider::Dialpad, "occupied", "incall"),
            (Provider::Dialpad, "wrapup", "wrapup"),
            (Provider::Dialpad, "off_duty", "loggedout"),
            (Provider::Dialpad, "Gardening", "unknown:gardening"),
            (Provider::Yeastar, "occupied", "unknown:occupied"),
        ] {
            assert_eq!(agent_status_word(p, w), want, "{p} {w}");
        }
    }
}
