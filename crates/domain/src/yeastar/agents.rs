//! Queue agent events, whose `msg` is an object: agent status changed
//! (30029), agent auto-paused after missed calls (30025), agent ring
//! timeout (30026).

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{queue_of, Msg};
use crate::event::{agent_status_word, AgentChange, AgentUpdate, Envelope, ParseError, Provider};
use crate::wire::{opt_text, Scalar, Text};

#[derive(Deserialize)]
struct AgentMsg<'a> {
    #[serde(default, borrow)]
    queue_number: Option<Scalar<'a>>,
    #[serde(borrow)]
    agent_number: Scalar<'a>,
    #[serde(default, borrow)]
    status: Option<Text<'a>>,
    #[serde(default, borrow)]
    reason: Option<Text<'a>>,
    /// 30025: the missed calls that paused the agent (only counted).
    #[serde(default)]
    calls: Option<Vec<IgnoredAny>>,
    /// 30026: the call that rang out.
    #[serde(default, borrow)]
    call_id: Option<Scalar<'a>>,
}

/// The agent update of an agent event with `change`: the agent (required)
/// in its queue (`queue-6402` kept as `6402`; `""` when none is named).
fn update(
    m: &AgentMsg<'_>,
    env: Envelope,
    change: AgentChange,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let agent = m.agent_number.text();
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
    msg: &Msg<'_>,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let m: AgentMsg<'_> = msg.read()?;
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
    msg: &Msg<'_>,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let m: AgentMsg<'_> = msg.read()?;
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
    msg: &Msg<'_>,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<AgentUpdate, ParseError> {
    let m: AgentMsg<'_> = msg.read()?;
    let change = AgentChange::RingTimeout {
        call_id: opt_text(&m.call_id),
    };
    update(&m, env, change, notes)
}
