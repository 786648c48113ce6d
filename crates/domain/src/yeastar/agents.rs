//! Queue agent events, whose `msg` is an object: agent status changed
//! (30029), agent auto-paused after missed calls (30025), agent ring
//! timeout (30026).

use serde::Deserialize;
use serde_json::Value;

use super::{from_msg, opt_text, queue_of, text_of};
use crate::event::{agent_status_word, AgentChange, AgentUpdate, Envelope, ParseError, Provider};

#[derive(Deserialize)]
struct AgentMsg {
    #[serde(default)]
    queue_number: Option<Value>,
    agent_number: Value,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// 30025: the missed calls that paused the agent.
    #[serde(default)]
    calls: Option<Vec<Value>>,
    /// 30026: the call that rang out.
    #[serde(default)]
    call_id: Option<Value>,
}

/// The agent update of an agent event with `change`: the agent (required)
/// in its queue (`queue-6402` kept as `6402`; `""` when none is named).
fn update(
    m: &AgentMsg,
    env: Envelope,
    change: AgentChange,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let agent = text_of(&m.agent_number);
    if agent.is_empty() {
        return Err(ParseError::Shape("agent event without agent_number".into()));
    }
    let queue = opt_text(&m.queue_number)
        .and_then(|q| queue_of(&q, notes))
        .unwrap_or_default();
    Ok(AgentUpdate {
        agent,
        name: None,
        queues: vec![queue],
        change,
        seq: env.id,
        at: env.received_at,
    })
}

/// 30029: the agent's status in the queue, with the reason of a pause. An
/// unknown status word is kept as `unknown:<word>`, with a note.
pub(super) fn status(
    msg: &Value,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let m: AgentMsg = from_msg(msg)?;
    let word = m.status.as_deref().unwrap_or_default();
    let status = agent_status_word(Provider::Yeastar, word);
    if status.starts_with("unknown:") {
        notes.push(format!("unknown agent status {word:?} kept as {status:?}"));
    }
    let reason = m
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    update(&m, env, AgentChange::Status { status, reason }, notes)
}

/// 30025: the PBX paused the agent after missed calls.
pub(super) fn auto_pause(
    msg: &Value,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let m: AgentMsg = from_msg(msg)?;
    let reason = match m.calls.as_ref().map(Vec::len) {
        Some(n) if n > 0 => format!("auto-paused after {n} missed call(s)"),
        _ => "auto-paused after missed calls".to_string(),
    };
    let change = AgentChange::Status {
        status: "paused".into(),
        reason: Some(reason),
    };
    update(&m, env, change, notes)
}

/// 30026: a queue call rang the agent out.
pub(super) fn ring_timeout(
    msg: &Value,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let m: AgentMsg = from_msg(msg)?;
    let change = AgentChange::RingTimeout {
        call_id: opt_text(&m.call_id),
    };
    update(&m, env, change, notes)
}
