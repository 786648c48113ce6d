//! Call-center agent status events: the agent's `on_duty_status` in each of
//! its call centres.

use serde::Deserialize;
use serde_json::Value;

use super::{id_text, millis, seq_of, Target};
use crate::event::{
    agent_status_word, AgentChange, AgentUpdate, Effect, Envelope, ParseError, Parsed, Provider,
};

#[derive(Deserialize)]
struct AgentStatus {
    target: Target,
    on_duty_status: String,
    #[serde(default)]
    on_duty_status_reason: Option<String>,
    #[serde(default)]
    call_center_ids: Option<Vec<Value>>,
    #[serde(default)]
    event_timestamp: Option<Value>,
    #[serde(default)]
    date: Option<Value>,
}

/// The agent update of an agent status event: the agent (`target.id`,
/// required) in each of its `call_center_ids` (`""` when it names none),
/// its status word mapped ([`agent_status_word`]; an unknown one kept as
/// `unknown:<word>` with a note) and its reason, ordered by
/// `event_timestamp` (else `date`, else the arrival).
pub(super) fn agent_status(root: Value, env: Envelope) -> Result<Parsed, ParseError> {
    let ev: AgentStatus = serde_json::from_value(root)
        .map_err(|e| ParseError::Shape(format!("agent status event: {e}")))?;
    let agent = ev
        .target
        .id
        .as_ref()
        .map(id_text)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::Shape("agent status without target.id".into()))?;
    let seq = seq_of(&ev.event_timestamp, &ev.date, env);
    let mut notes = Vec::new();
    let status = agent_status_word(Provider::Dialpad, &ev.on_duty_status);
    if status.starts_with("unknown:") {
        notes.push(format!(
            "unknown on_duty_status {:?} kept as {status:?}",
            ev.on_duty_status
        ));
    }
    let mut queues: Vec<String> = ev
        .call_center_ids
        .unwrap_or_default()
        .iter()
        .map(id_text)
        .filter(|q| !q.is_empty())
        .collect();
    queues.sort();
    queues.dedup();
    if queues.is_empty() {
        queues.push(String::new());
    }
    let reason = ev
        .on_duty_status_reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    Ok(Parsed {
        event_type: "agent.status".into(),
        effect: Effect::Agent(AgentUpdate {
            agent,
            name: ev.target.name.filter(|n| !n.trim().is_empty()),
            queues,
            change: AgentChange::Status { status, reason },
            seq,
            at: millis(seq).unwrap_or(env.received_at),
        }),
        notes,
    })
}
