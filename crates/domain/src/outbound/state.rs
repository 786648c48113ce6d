//! Extension and agent events: a derived status, a presence, an agent's
//! status in a queue, as loaded and as written.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{time, Fields, Millis, OutEvent};
use crate::merge::AgentRow;

/// One extension of a batch, as loaded and as written.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionChange<'a> {
    pub source: &'a str,
    pub number: &'a str,
    pub name: Option<&'a str>,
    pub status_before: &'a str,
    pub status_after: &'a str,
    pub presence_before: Option<&'a str>,
    pub presence_after: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// `extension.status_changed` when the derived status changed,
/// `extension.presence_changed` when a presence was set or changed.
pub fn extension_events(c: &ExtensionChange<'_>) -> Vec<OutEvent> {
    let mut out = Vec::new();
    let event = |t: &'static str, ext: ExtensionJson<'_>| OutEvent {
        event_type: t,
        source: c.source.to_string(),
        subject: format!("extension:{}:{}", c.source, c.number),
        occurred_at: c.now,
        fields: Fields::default().with("extension", &ext),
    };
    if c.status_before != c.status_after {
        out.push(event(
            "extension.status_changed",
            ExtensionJson {
                number: c.number,
                name: c.name,
                status: Some(c.status_after),
                previous_status: Some(c.status_before),
                presence: None,
                previous_presence: None,
            },
        ));
    }
    if c.presence_after.is_some() && c.presence_before != c.presence_after {
        out.push(event(
            "extension.presence_changed",
            ExtensionJson {
                number: c.number,
                name: c.name,
                status: None,
                previous_status: None,
                presence: Some(c.presence_after),
                previous_presence: Some(c.presence_before),
            },
        ));
    }
    out
}

/// One agent in one queue, as loaded (`None`: new) and as written.
#[derive(Debug, Clone, Copy)]
pub struct AgentChangeRow<'a> {
    pub source: &'a str,
    pub queue: &'a str,
    pub agent: &'a str,
    pub before: Option<&'a AgentRow>,
    pub after: &'a AgentRow,
    pub now: DateTime<Utc>,
}

/// `agent.status_changed` when the agent's status or its reason changed.
pub fn agent_events(c: &AgentChangeRow<'_>) -> Vec<OutEvent> {
    let was = c.before.map(|b| (b.status.as_deref(), b.reason.as_deref()));
    let is = (c.after.status.as_deref(), c.after.reason.as_deref());
    if is.0.is_none() || was == Some(is) {
        return Vec::new();
    }
    let (previous_status, previous_reason) = was.unwrap_or((None, None));
    vec![OutEvent {
        event_type: "agent.status_changed",
        source: c.source.to_string(),
        subject: format!("agent:{}:{}:{}", c.source, c.queue, c.agent),
        occurred_at: c.after.status_at.unwrap_or(c.now),
        fields: Fields::default().with(
            "agent",
            &AgentJson {
                agent: c.agent,
                queue: c.queue,
                status: is.0,
                reason: is.1,
                previous_status,
                previous_reason,
                status_at: time(c.after.status_at),
            },
        ),
    }]
}

/// An extension as its events show it: `status` and `previous_status` in
/// `extension.status_changed`, `presence` and `previous_presence` in
/// `extension.presence_changed` (each only in its own event).
#[derive(Serialize)]
struct ExtensionJson<'a> {
    number: &'a str,
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_presence: Option<Option<&'a str>>,
}

/// An agent in a queue as its events show it.
#[derive(Serialize)]
struct AgentJson<'a> {
    agent: &'a str,
    queue: &'a str,
    status: Option<&'a str>,
    reason: Option<&'a str>,
    previous_status: Option<&'a str>,
    previous_reason: Option<&'a str>,
    status_at: Option<Millis>,
}
